"""Fitting a lecture deck to a 16:9 screen: what does not fit on a slide moves to the next one,
or to the speaker notes.

The deck's canvas is 1280 x 720 pixels (reveal.js scales it to the screen). The heights here are
estimates in those pixels from the length of the text, calibrated against Chromium's layout of
the decks; ``tests/test_slides.py`` measures every slide of every deck in Chromium and fails on
one whose content is taller than the screen. The rules, applied to the deck's copy only:

* a code cell longer than ``CODE_LINES`` lines shows its outputs only; its code goes to the
  speaker notes (press ``s`` in the deck), and a code cell without outputs leaves the slides;
* a figure gets a subslide of its own below the code that drew it; printed output taller than
  the screen is cut into several subslides;
* text that would overflow the slide it continues starts a new subslide, and a single cell of
  text that is taller than a screen is cut between paragraphs, its heading repeated.
"""

from __future__ import annotations

import copy
import math
import re

import nbformat

SLIDE, SUBSLIDE, FRAGMENT, CONTINUE, SKIP, NOTES = (
    "slide",
    "subslide",
    "fragment",
    "-",
    "skip",
    "notes",
)
SCREEN = 640  # content height that fits inside reveal.js's margins on the 720-pixel canvas
CODE_LINES = 20  # longer code is read in the notebook, not on a slide
FIGURE = 560  # the largest a figure is drawn (the decks' style sheet caps images at this height)
LINE, CODE_LINE = 27, 22  # line heights of text and of code or printed output
CHARS_PER_LINE = 88  # characters of running text per line across the slide
OUTPUT_CHARS_PER_LINE = 78  # the same in an output, beside its Out[n] prompt
CODE_CHARS_PER_LINE = 85  # characters of code or printed output before a line wraps
MORE = "…"  # the last line of printed output that continues on the next subslide
HEADING_SIZES = {1: (48, 64), 2: (60, 52), 3: (75, 40)}  # level: (characters per line, height)
BLOCK_GAP = 20  # margin between paragraphs, and around a cell's input or output

DISPLAY_MATH = re.compile(r"\$\$.*?\$\$|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.DOTALL)
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
HEADING = re.compile(r"^(#{1,3}) +(.*)$")
SENTENCE_END = re.compile(r"(?<=[.:])\s+(?=[A-Z*])")
LIST_ITEM = re.compile(r"^(?:[*+-]|\d+\.) ")


# ------------------------------------------------------------------------------------ estimates
def text_height(markdown: str, chars_per_line: int = CHARS_PER_LINE) -> int:
    """Estimated height of rendered Markdown: paragraphs wrap at ``CHARS_PER_LINE``, display math
    takes a line and a half per row, code blocks a line per line."""
    height = 0
    for block in paragraphs(markdown):
        if head := HEADING.match(block):
            per_line, line_height = HEADING_SIZES[len(head.group(1))]
            height += line_height * math.ceil(len(head.group(2)) / per_line) + BLOCK_GAP
        elif block.lstrip().startswith("```"):
            height += CODE_LINE * (block.count("\n") - 1) + BLOCK_GAP
        else:
            rows = sum(m.group(0).count("\\\\") + 1 for m in DISPLAY_MATH.finditer(block))
            prose = LINK.sub(r"\1", DISPLAY_MATH.sub("", block))
            lines = sum(
                math.ceil(len(line) / chars_per_line) for line in prose.split("\n") if line.strip()
            )
            height += LINE * lines + 40 * rows + BLOCK_GAP
    return height


def lines_height(text: str) -> int:
    """Height of code or printed output, long lines wrapped."""
    return CODE_LINE * sum(_rows(line) for line in text.rstrip("\n").split("\n"))


def _rows(line: str) -> int:
    return max(1, math.ceil(len(line.expandtabs()) / CODE_CHARS_PER_LINE))


def is_figure(output: nbformat.NotebookNode) -> bool:
    return any(
        kind in output.get("data", {}) for kind in ("image/png", "image/svg+xml", "image/jpeg")
    )


def output_height(output: nbformat.NotebookNode) -> int:
    if output.output_type == "stream":
        return lines_height(output.text) + BLOCK_GAP
    data = output.get("data", {})
    if is_figure(output):
        return FIGURE + BLOCK_GAP
    if "text/markdown" in data:
        return text_height(data["text/markdown"], OUTPUT_CHARS_PER_LINE)
    return lines_height(data.get("text/plain", "")) + BLOCK_GAP


def code_height(source: str) -> int:
    return lines_height(source) + 2 * BLOCK_GAP


# ---------------------------------------------------------------------------------- cutting text
def paragraphs(markdown: str) -> list[str]:
    """Blocks separated by blank lines, and each item of a list; a code fence or display math is
    never cut."""
    blocks: list[list[str]] = [[]]
    fence = math_open = False
    for line in markdown.split("\n"):
        if not line.strip() and not (fence or math_open) and blocks[-1]:
            blocks.append([])
            continue
        if LIST_ITEM.match(line) and not (fence or math_open) and blocks[-1]:
            blocks.append([])
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        if not fence and line.count("$$") % 2:
            math_open = not math_open
        blocks[-1].append(line)
    return ["\n".join(block) for block in blocks if any(line.strip() for line in block)]


def sentences(block: str) -> list[str]:
    """A paragraph cut after each full stop that ends a sentence (not inside inline math)."""
    pieces: list[str] = []
    for part in SENTENCE_END.split(block):
        if pieces and pieces[-1].count("$") % 2:  # the cut fell inside $...$: undo it
            pieces[-1] += " " + part
        else:
            pieces.append(part)
    return pieces


def cut_text(markdown: str, chars_per_line: int = CHARS_PER_LINE) -> list[str]:
    """Markdown cut between paragraphs (or, for a paragraph taller than the screen, between its
    sentences) into pieces that each fit the screen; each piece after the first starts with the
    heading of the first, marked as continued."""
    blocks = paragraphs(markdown)
    head = HEADING.match(blocks[0]) if blocks else None
    continued = f"{'#' * len(head.group(1))} {head.group(2)} (continued)" if head else ""
    pieces = [""]
    for block in blocks:
        tall = text_height(block, chars_per_line) > SCREEN
        for number, part in enumerate(sentences(block) if tall else [block]):
            joiner = " " if number else "\n\n"  # sentences of one paragraph stay one paragraph
            trial = pieces[-1] + joiner + part if pieces[-1] else part
            if pieces[-1] and text_height(trial, chars_per_line) > SCREEN:
                pieces.append(continued + "\n\n" + part if continued else part)
            else:
                pieces[-1] = trial
    return pieces


# -------------------------------------------------------------------------------- cutting output
def _text_pages(output: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Printed output, or a long text result (``show_source``), cut into pieces that fit the
    screen; a cut text result is shown as plain text."""
    data = output.get("data", {})
    if "text/markdown" in data and output_height(output) > SCREEN:
        return [
            nbformat.v4.new_output("display_data", data={"text/markdown": piece})
            for piece in cut_text(data["text/markdown"], OUTPUT_CHARS_PER_LINE)
        ]
    if output.output_type == "stream":
        text = output.text
    elif output_height(output) > SCREEN and "text/plain" in data:
        text = data["text/plain"]
    else:
        return [output]
    pieces: list[list[str]] = [[]]
    rows = 0
    for line in text.rstrip("\n").split("\n"):
        if pieces[-1] and (rows + _rows(line) + 1) * CODE_LINE > SCREEN - 2 * BLOCK_GAP:
            pieces[-1].append(MORE)
            pieces.append([])
            rows = 0
        pieces[-1].append(line)
        rows += _rows(line)
    if len(pieces) == 1:
        return [output]
    return [
        nbformat.v4.new_output("stream", name="stdout", text="\n".join(piece) + "\n")
        for piece in pieces
    ]


def output_pages(outputs: list) -> list[list]:
    """The outputs grouped into screens: a figure alone, long printed output cut."""
    pieces = [piece for output in outputs for piece in _text_pages(output)]
    pages: list[list] = []
    height = SCREEN + 1
    for piece in pieces:
        needed = output_height(piece)
        if height + needed > SCREEN:
            pages.append([])
            height = 0
        pages[-1].append(piece)
        height += needed
    return pages


def _with_kind(cell: nbformat.NotebookNode, kind: str) -> nbformat.NotebookNode:
    cell.metadata.setdefault("slideshow", {})["slide_type"] = kind
    return cell


def _notes(source: str) -> nbformat.NotebookNode:
    return _with_kind(nbformat.v4.new_markdown_cell(source), NOTES)


def code_slides(cell: nbformat.NotebookNode, kind: str) -> list[nbformat.NotebookNode]:
    """The deck's cells for one code cell: its code (or a note with it), then its outputs."""
    lines = cell.source.count("\n") + 1
    show_code = lines <= CODE_LINES
    pages = output_pages(cell.outputs)
    if show_code:
        first = copy.deepcopy(cell)
        first.outputs = []
        # The first screen of output stays with the code when both fit, unless it is a figure:
        # a figure needs the whole screen to be read in a lecture room.
        if (
            pages
            and not any(is_figure(o) for o in pages[0])
            and code_height(cell.source) + sum(output_height(o) for o in pages[0]) <= SCREEN
        ):
            first.outputs = pages.pop(0)
        slides = [_with_kind(first, kind)]
        kind = SUBSLIDE
    else:
        code = f"```python\n{cell.source}\n```"
        slides = [
            _notes(f"Code of the next step ({lines} lines; the notebook has it too):\n\n{code}")
        ]
    for number, page in enumerate(pages, start=1):
        shown = copy.deepcopy(cell)
        shown.id = f"{cell.id}-{number}"  # cell ids are unique within a notebook
        shown.outputs = page
        tags = shown.metadata.setdefault("tags", [])
        if "remove-input" not in tags:
            tags.append("remove-input")
        slides.append(_with_kind(shown, kind))
        kind = SUBSLIDE
    return slides  # code without output and too long to show: only the note, on the slide before


# ------------------------------------------------------------------------------------- the deck
def fit_to_screen(cells: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """The deck's cells, re-cut so that every slide fits the screen (see the module docstring)."""
    fitted: list[nbformat.NotebookNode] = []
    for cell in cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type", CONTINUE)
        if kind in (SKIP, NOTES):
            fitted.append(cell)
        elif cell.cell_type == "code":
            fitted += code_slides(cell, kind)
        elif cell.cell_type == "markdown" and text_height(cell.source) > SCREEN:
            for number, piece in enumerate(cut_text(cell.source)):
                piece_kind = kind if number == 0 else SUBSLIDE
                fitted.append(_with_kind(nbformat.v4.new_markdown_cell(piece), piece_kind))
        else:
            fitted.append(cell)
    return _paginate(fitted)


def _height(cell: nbformat.NotebookNode) -> int:
    if cell.cell_type == "markdown":
        return text_height(cell.source)
    shown = 0 if "remove-input" in cell.metadata.get("tags", []) else code_height(cell.source)
    return shown + sum(output_height(o) for o in cell.get("outputs", []))


def _paginate(cells: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """Text that continues a slide (``-``, a fragment) opens a subslide where the slide is full."""
    height = 0
    for cell in cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type", CONTINUE)
        if kind in (SKIP, NOTES):
            continue
        needed = _height(cell)
        if kind in (CONTINUE, FRAGMENT) and height + needed > SCREEN:
            _with_kind(cell, SUBSLIDE)
            height = needed
        elif kind in (SLIDE, SUBSLIDE):
            height = needed
        else:
            height += needed
    return cells
