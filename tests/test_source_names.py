"""The four source documents are named, not numbered, wherever a reader sees them, and the book's
Sources page (book/sources.md) describes them and says which notebooks use each."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOURCES_PAGE = ROOT / "book" / "sources.md"
NAMES = ("VAE-restriction paper", "lecture notes", "ML-team slides", "CV-team slides")
# The project's internal numbering ("seed 001", "the seed paper", ../shared/seeds/), meaningless
# to a reader. The Sources page itself explains the numbers, without the word "seed".
INTERNAL = re.compile(
    r"\bseeds?[- ]?0\d\d\b|\bseed[- ]paper\b|\bseeds/|\bthe seed's\b", re.IGNORECASE
)
SOURCE_LINK = "](../book/sources.md)"


def reader_facing_files() -> list[Path]:
    """Pages, the README, and the course_lib sources that notebooks show (show_source)."""
    return [
        *sorted((ROOT / "book").glob("*.md")),
        ROOT / "README.md",
        *sorted((ROOT / "course_lib").rglob("*.py")),
    ]


def notebook_texts(path: Path) -> list[tuple[str, str]]:
    """(where, text) for every cell's source, figure caption and alt text (cell metadata), and
    every text output of a notebook."""
    texts = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        texts.append((f"cell {index}", cell.source))
        figure = cell.metadata.get("mystnb", {})
        texts.append((f"caption of cell {index}", figure.get("figure", {}).get("caption", "")))
        texts.append((f"alt text of cell {index}", figure.get("image", {}).get("alt", "")))
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for text in (
                output.get("text", ""),
                data.get("text/plain", ""),
                data.get("text/markdown", ""),
            ):
                texts.append((f"output of cell {index}", text))
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_name_their_sources(path):
    found = [
        f"{where}: {match.group(0)!r}"
        for where, text in notebook_texts(path)
        for match in INTERNAL.finditer(text)
    ]
    assert not found, (
        f"{path.name} numbers its sources where a reader sees it: {found}. "
        "Use the names of book/sources.md."
    )


def test_pages_readme_and_library_name_their_sources():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r}"
        for path in reader_facing_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for match in INTERNAL.finditer(line)
    ]
    assert not found, f"sources numbered where a reader sees them: {found}"


def test_the_check_catches_the_old_forms():
    for text in (
        "as in seed 001",
        "Seed 003's slide",
        "the seed-000 paper",
        "The seed paper",
        "the seed's setup",
    ):
        assert INTERNAL.search(text), text
    for text in (
        "seed 0, 1 and 2",
        "load_faces seed 7001",
        "(random subset, seed 0)",
        "the first seed's runs",
    ):
        assert not INTERNAL.search(text), text


def _used_in_column() -> dict[str, set[str]]:
    """The Sources page's table: short name -> the notebook numbers it lists."""
    rows = {}
    for line in SOURCES_PAGE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("the "):
            rows[cells[0].removeprefix("the ")] = set(re.findall(r"\d\d", cells[3]))
    return rows


def test_the_sources_page_lists_where_each_source_is_used():
    listed = _used_in_column()
    assert set(listed) == set(NAMES)
    for name in NAMES:
        using = {
            path.name[:2]
            for path in NOTEBOOKS
            if any(name in text for _, text in notebook_texts(path))
        }
        assert listed[name] == using, f"{name}: the page lists {listed[name]}, used in {using}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_source_a_notebook_uses_is_linked_to_the_sources_page(path):
    markdown = "\n".join(
        c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
    )
    for name in NAMES:
        if name in markdown:
            assert f"[{name}{SOURCE_LINK}" in markdown or re.search(
                rf"\[[^\]]*{re.escape(name)}[^\]]*\]\(\.\./book/sources\.md\)", markdown
            ), f"{path.name} names the {name} without linking book/sources.md"
