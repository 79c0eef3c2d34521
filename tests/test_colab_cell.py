"""The Colab cell: first in every notebook, silent outside Colab, an install on Colab; the book's
build fills it in and the Pages workflow publishes the filled copies on the launch branch."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import types
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest
import yaml
from script_modules import load_script

from course_lib.authoring import colab
from course_lib.authoring.editions import student_edition

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
REPO = "https://github.com/example/dgm-course"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


build_book = load_script("build_book")


def run_cell(source: str, monkeypatch, on_colab: bool) -> tuple[str, list[list[str]]]:
    """Run the cell's code here; return what it printed and the commands it ran."""
    commands: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: commands.append(command))
    if on_colab:  # what Colab's kernel has imported before the first cell runs
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    printed = io.StringIO()
    with redirect_stdout(printed):
        exec(compile(source, "colab-cell", "exec"), {})
    return printed.getvalue(), commands


# ------------------------------------------------------------------------------- in the notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_starts_with_the_same_colab_cell(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert colab.is_colab_cell(first), (
        f"{path.name} does not start with the Colab cell: run `python scripts/colab_cell.py`"
    )
    assert first.source == colab.CELL_SOURCE, (
        f"{path.name} holds another version of the Colab cell: run `python scripts/colab_cell.py`"
    )
    assert first.metadata.get("tags") == colab.CELL_TAGS
    assert first.outputs == [], "outside Colab the cell prints nothing"


@pytest.mark.parametrize("path", NOTEBOOKS[:1], ids=lambda p: p.stem)
def test_the_student_edition_keeps_the_cell(path):
    edition = student_edition(nbformat.read(path, as_version=4))
    assert edition.cells[0].source == colab.CELL_SOURCE


def test_insert_puts_the_cell_first_once_and_replaces_an_old_version():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")])
    assert colab.insert_colab_cell(notebook)
    assert not colab.insert_colab_cell(notebook)  # already there
    notebook.cells[0].source = "an older cell"
    notebook.cells.append(notebook.cells.pop(0))  # and in the wrong place
    assert colab.insert_colab_cell(notebook)
    assert [c.source for c in notebook.cells] == [colab.CELL_SOURCE, "# Title"]


# ------------------------------------------------------------------------------------ what it does
def test_outside_colab_the_cell_does_nothing(monkeypatch):
    printed, commands = run_cell(colab.CELL_SOURCE, monkeypatch, on_colab=False)
    assert (printed, commands) == ("", [])
    filled = colab.filled_source(REPO, COMMIT)
    assert run_cell(filled, monkeypatch, on_colab=False) == ("", [])


def test_on_colab_it_installs_the_package_at_the_named_commit_and_says_so(monkeypatch):
    printed, commands = run_cell(colab.filled_source(REPO, COMMIT), monkeypatch, on_colab=True)
    source = f"git+{REPO}@{COMMIT}"
    assert len(commands) == 2
    package, extras = commands
    assert package[:4] == extras[:4] == [sys.executable, "-m", "pip", "install"]
    assert package[-1] == source
    assert "--no-deps" in package and "--ignore-requires-python" in package
    assert set(extras) >= {"onnx", "onnxruntime", "onnxscript"} and "--no-deps" not in extras
    assert printed.strip() == f"Colab: installed the course package from {source}"


def test_on_colab_an_unfilled_cell_stops_with_the_fix(monkeypatch):
    with pytest.raises(RuntimeError, match=r"Colab button.*COURSE_REPOSITORY.*COURSE_COMMIT"):
        run_cell(colab.CELL_SOURCE, monkeypatch, on_colab=True)


def test_filling_changes_only_the_two_constants():
    filled = colab.filled_source(REPO, COMMIT).split("\n")
    original = colab.CELL_SOURCE.split("\n")
    changed = [(a, b) for a, b in zip(original, filled) if a != b]
    assert len(filled) == len(original)
    assert [b.split("  #")[0] for _, b in changed] == [
        f'COURSE_REPOSITORY = "{REPO}"',
        f'COURSE_COMMIT = "{COMMIT}"',
    ]
    with pytest.raises(ValueError, match="quotes"):
        colab.filled_source('https://github.com/a/b"; import os', COMMIT)


# --------------------------------------------------------------------------------- the book build
def test_the_build_writes_filled_copies_for_the_launch_branch(tmp_path):
    written = build_book.write_launch_notebooks(tmp_path, REPO, COMMIT)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for copy, original in zip(written, NOTEBOOKS):
        filled, stored = nbformat.read(copy, 4), nbformat.read(original, 4)
        assert filled.cells[0].source == colab.filled_source(REPO, COMMIT)
        for cell in stored.cells:  # links to book pages go to GitHub, where Colab can follow
            cell.source = cell.source.replace("](../book/", f"]({REPO}/blob/{COMMIT}/book/")
        assert filled.cells[1:] == stored.cells[1:]  # everything else as stored, outputs too
        assert "](../book/" not in json.dumps([c.source for c in filled.cells])


def test_the_launch_buttons_open_the_launch_branch(tmp_path):
    derived = build_book.book_config(tmp_path, {build_book.REPOSITORY_ENV: REPO})
    assert yaml.safe_load(derived.read_text())["repository"]["branch"] == colab.LAUNCH_BRANCH


def test_the_commit_comes_from_the_workflow_or_git():
    assert build_book.book_commit({"GITHUB_SHA": COMMIT}) == COMMIT
    if (ROOT / ".git").exists():
        head = subprocess.check_output(["git", "-C", str(ROOT), "rev-parse", "HEAD"], text=True)
        assert build_book.book_commit({}) == head.strip()
    with pytest.raises(build_book.BuildError, match="40-digit"):
        build_book.book_commit({"GITHUB_SHA": "main"})


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_the_workflow_step_pushes_the_filled_notebooks_on_top_of_the_books_commit(
    tmp_path, monkeypatch
):
    """Run the workflow's publishing step in a throw-away clone with a local 'origin'."""
    step = next(
        s
        for s in yaml.safe_load(WORKFLOW.read_text())["jobs"]["build"]["steps"]
        if "git push" in s.get("run", "")
    )
    origin, clone = tmp_path / "origin.git", tmp_path / "clone"
    subprocess.run(["git", "init", "--quiet", "--bare", str(origin)], check=True)
    (clone / "notebooks").mkdir(parents=True)
    shutil.copy(NOTEBOOKS[0], clone / "notebooks" / NOTEBOOKS[0].name)
    _git(clone.parent, "init", "--quiet", "-b", "main", str(clone))
    _git(clone, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(clone, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "book")
    _git(clone, "remote", "add", "origin", str(origin))
    commit = _git(clone, "rev-parse", "HEAD")
    monkeypatch.setattr(build_book, "NOTEBOOKS", clone / "notebooks")
    build_book.write_launch_notebooks(clone / "book" / "_build", REPO, commit)
    subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=clone,
        check=True,
        capture_output=True,
        env={"GITHUB_SHA": commit, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    published = _git(origin, "rev-parse", "book")
    assert _git(origin, "rev-parse", "book~1") == commit  # the book's commit is the parent
    changed = _git(origin, "diff", "--name-only", commit, published).split()
    assert changed == [f"notebooks/{NOTEBOOKS[0].name}"]
    cell = json.loads(_git(origin, "show", f"book:notebooks/{NOTEBOOKS[0].name}"))["cells"][0]
    assert "".join(cell["source"]) == colab.filled_source(REPO, commit)


# ------------------------------------------------------------------------- links to book pages
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_links_to_book_pages_open_in_jupyterlab_and_in_the_book(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    for page in {part.split(")")[0] for part in text.split(build_book.BOOK_LINK)[1:]}:
        assert (ROOT / "book" / page).is_file(), f"{path.name} links to a missing page {page}"
    copy = tmp_path / path.name
    build_book.copy_for_book(path, copy)
    copied = nbformat.read(copy, as_version=4)
    assert build_book.BOOK_LINK not in json.dumps([c.source for c in copied.cells])
    assert copy.stat().st_mtime == path.stat().st_mtime
