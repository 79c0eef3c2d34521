"""Lecture slides from the notebooks: which cell opens a slide, and what a deck shows of a cell.

The rule (``slide_types``) is stored in each notebook as ``metadata.slideshow.slide_type``, the
field that Jupyter's property inspector, RISE and ``nbconvert --to slides`` read:

* a ``# `` or ``## `` heading opens a slide (a column of the deck), a ``### `` heading a subslide;
* a code cell opens a subslide of its own, so its code and figure get a whole screen below the text;
* text right after a code cell is a fragment (it appears on the next click, after the figure was
  discussed); other text continues the slide it is on;
* the Colab cell before the title, the "Setup" section (imports, device, settings) and the code
  of the closing sections (the cell that prints the run time) are plumbing, not lecture
  material, and are skipped.

``lecture_notebook`` prepares a copy for the deck without touching the stored notebook: a markdown
cell that holds further headings is cut at them, so each heading still opens a slide; MyST syntax
that only the book understands is rewritten as plain Markdown; and exercise solutions move from the
slide into the speaker notes (press ``s`` in the deck).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator

import nbformat

from course_lib.authoring.editions import SOLUTION_BLOCK
from course_lib.authoring.slide_fit import (
    CONTINUE,
    FRAGMENT,
    NOTES,
    SKIP,
    SLIDE,
    SUBSLIDE,
    fit_to_screen,
)

PLUMBING_SECTIONS = {"", "setup"}  # skipped whole; "" is before the title: the Colab cell
CLOSING_SECTIONS = {"exercises", "summary", "references"}  # their code only reports the run time

HEADING = re.compile(r"^(#{1,3}) +(\S.*)$")
FENCE = re.compile(r"^\s*(```|~~~)")
ADMONITION = re.compile(r"```\{admonition\} *(?P<title>[^\n]*)\n(?P<body>.*?)\n```", re.DOTALL)
DIRECTIVE_OPTION = re.compile(r"^:[\w-]+:.*\n?", re.MULTILINE)  # ":class: dropdown" and the like


def heading(line: str) -> tuple[int, str] | None:
    """(level, title) of a level 1-3 Markdown heading line, else None."""
    match = HEADING.match(line)
    return (len(match.group(1)), match.group(2).strip()) if match else None


def split_at_headings(source: str) -> list[str]:
    """The source cut before every level 1-3 heading that is not its first line; fenced code is
    left whole, so a ``# comment`` inside a code block never opens a slide."""
    parts: list[list[str]] = [[]]
    in_fence = False
    for line in source.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and heading(line) and any(part.strip() for part in parts[-1]):
            parts.append([])
        parts[-1].append(line)
    return ["\n".join(part).strip("\n") for part in parts]


def _markdown_type(part: str, section: str, after_code: bool) -> str:
    if section in PLUMBING_SECTIONS:
        return SKIP
    head = heading(part.split("\n", 1)[0])
    if head:
        return SLIDE if head[0] <= 2 else SUBSLIDE
    return FRAGMENT if after_code else CONTINUE


def _parts(notebook: nbformat.NotebookNode) -> Iterator[tuple[int, int, str, str]]:
    """(cell index, part index, part source, slide type) for every part of every cell, in order.

    Code and raw cells are one part each; markdown cells are cut by ``split_at_headings``. The
    rule's state is the current ``## `` section and whether the previous shown cell was code."""
    section, after_code = "", False
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            kind = SUBSLIDE if cell.cell_type == "code" else SKIP
            if section in PLUMBING_SECTIONS | CLOSING_SECTIONS:
                kind = SKIP
            yield index, 0, cell.source, kind
            after_code = after_code or kind != SKIP  # a skipped cell leaves the state as it was
            continue
        for number, part in enumerate(split_at_headings(cell.source)):
            head = heading(part.split("\n", 1)[0])
            if head and head[0] <= 2:
                section = head[1].lower()
            kind = _markdown_type(part, section, after_code)
            yield index, number, part, kind
            if kind != SKIP:
                after_code = False


def slide_types(notebook: nbformat.NotebookNode) -> list[str]:
    """The rule's slide type for each cell of the notebook (see the module docstring)."""
    return [kind for _, number, _, kind in _parts(notebook) if number == 0]


def stored_type(cell: nbformat.NotebookNode) -> str | None:
    return cell.metadata.get("slideshow", {}).get("slide_type")


def mismatches(notebook: nbformat.NotebookNode) -> list[str]:
    """One line for each cell whose stored slide type differs from the rule; [] when all agree."""
    return [
        f"cell {index} ({cell.cell_type}, {cell.source[:40]!r}): stored {stored_type(cell)!r}, "
        f"rule {kind!r}"
        for index, (cell, kind) in enumerate(zip(notebook.cells, slide_types(notebook)))
        if stored_type(cell) != kind
    ]


def apply_slide_types(notebook: nbformat.NotebookNode) -> int:
    """Store the rule's slide type in each cell's metadata, in place; return how many changed."""
    changed = 0
    for cell, kind in zip(notebook.cells, slide_types(notebook)):
        if stored_type(cell) != kind:
            cell.metadata.setdefault("slideshow", {})["slide_type"] = kind
            changed += 1
    return changed


# ------------------------------------------------------------------------------- the deck's copy
def _admonition_body(block: str) -> str:
    return DIRECTIVE_OPTION.sub("", ADMONITION.match(block).group("body"), count=1).strip()


def plain_markdown(source: str) -> str:
    """MyST-only syntax as plain Markdown: an admonition as a titled quote. (Citations are
    author-year links in the notebooks already; scripts/make_slides.py converts any role left.)"""

    def quote(match: re.Match) -> str:
        lines = [
            f"**{match.group('title').strip()}**",
            "",
            *_admonition_body(match.group(0)).split("\n"),
        ]
        return "\n".join(f"> {line}".rstrip() for line in lines)

    return ADMONITION.sub(quote, source)


def take_solutions(source: str) -> tuple[str, list[str]]:
    """The source without its solution blocks, and the solutions' text in order."""
    solutions = [_admonition_body(block) for block in SOLUTION_BLOCK.findall(source)]
    return re.sub(r"\n{3,}", "\n\n", SOLUTION_BLOCK.sub("", source)), solutions


def _markdown_cell(source: str, kind: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(source, metadata={"slideshow": {"slide_type": kind}})


def lecture_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of the notebook ready for ``nbconvert --to slides``
    (the stored notebook is unchanged).

    Stored slide types are kept, so the deck follows the notebook's metadata; what this adds is the
    cutting of markdown cells at inner headings, plain Markdown for MyST, solutions as notes, and
    the cuts that make each slide fit a 16:9 screen (``slide_fit``)."""
    deck = copy.deepcopy(notebook)
    cells = []
    for index, number, part, kind in _parts(notebook):
        cell = deck.cells[index]
        if cell.cell_type != "markdown":
            cells.append(cell)
            continue
        if number == 0:
            kind = stored_type(cell) or CONTINUE
        text, solutions = take_solutions(part)
        cells.append(_markdown_cell(plain_markdown(text), kind))
        if solutions and kind != SKIP:
            notes = "\n\n".join(f"**Solution {n}.** {s}" for n, s in enumerate(solutions, start=1))
            cells.append(_markdown_cell(plain_markdown(notes), NOTES))
    deck.cells = fit_to_screen(cells)
    return deck
