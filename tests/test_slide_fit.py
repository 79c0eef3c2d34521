"""Fitting the decks to a 16:9 screen (course_lib.authoring.slide_fit), on small made-up cells.
tests/test_slides.py measures the real decks in Chromium."""

from __future__ import annotations

import base64

import nbformat

from course_lib.authoring import slide_fit as fit

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(32)).decode()


def kind(cell) -> str:
    return cell.metadata["slideshow"]["slide_type"]


def code(source: str, *outputs, slide_type: str = "subslide"):
    cell = nbformat.v4.new_code_cell(source, metadata={"slideshow": {"slide_type": slide_type}})
    cell.outputs = list(outputs)
    cell.execution_count = 1
    return cell


def text(source: str, slide_type: str = "-"):
    return nbformat.v4.new_markdown_cell(source, metadata={"slideshow": {"slide_type": slide_type}})


def stream(lines: int, width: int = 10):
    return nbformat.v4.new_output(
        "stream", name="stdout", text="".join(f"{n:0{width}d}\n" for n in range(lines))
    )


def figure():
    return nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})


def test_short_code_keeps_a_short_output_and_the_figure_gets_its_own_subslide():
    cells = fit.fit_to_screen([code("x = 1\nprint(x)", stream(2), figure())])
    assert [kind(c) for c in cells] == ["subslide", "subslide"]
    shown, drawn = cells
    assert shown.source == "x = 1\nprint(x)" and [o.output_type for o in shown.outputs] == [
        "stream"
    ]
    assert "remove-input" in drawn.metadata["tags"] and drawn.outputs[0].data["image/png"] == PNG
    assert shown.id != drawn.id


def test_long_code_goes_to_the_notes_and_its_outputs_stay():
    long_code = "\n".join(f"x{n} = {n}" for n in range(fit.CODE_LINES + 1))
    cells = fit.fit_to_screen([code(long_code, figure())])
    assert [kind(c) for c in cells] == ["notes", "subslide"]
    assert long_code in cells[0].source and f"({fit.CODE_LINES + 1} lines" in cells[0].source
    assert "remove-input" in cells[1].metadata["tags"]
    # without outputs, only the note is left, on the slide before
    assert [kind(c) for c in fit.fit_to_screen([code(long_code)])] == ["notes"]


def test_printed_output_taller_than_the_screen_is_cut_without_losing_a_line():
    rows = 3 * fit.SCREEN // fit.CODE_LINE
    cells = fit.fit_to_screen([code("run()", stream(rows))])
    pages = [o.text for c in cells for o in c.outputs]
    assert len(pages) >= 3
    assert all(page.endswith(f"\n{fit.MORE}\n") for page in pages[:-1])  # "continued" marks
    assert "".join(pages).replace(f"{fit.MORE}\n", "") == stream(rows).text
    assert all(fit.lines_height(page) <= fit.SCREEN for page in pages)


def test_a_long_text_result_is_cut_as_plain_text():
    source = "\n".join(f"line {n}" for n in range(80))
    result = nbformat.v4.new_output(
        "execute_result", data={"text/html": "<pre>...</pre>", "text/plain": source}
    )
    result.execution_count = 1
    pages = [o for c in fit.fit_to_screen([code("show_source(f)", result)]) for o in c.outputs]
    assert len(pages) > 1
    assert "".join(p.text for p in pages).replace(f"{fit.MORE}\n", "") == source + "\n"


def test_text_taller_than_the_screen_is_cut_between_paragraphs_heading_repeated():
    paragraph = "A sentence of running text that fills most of a line on the slide. " * 4
    source = "## Long section\n\n" + "\n\n".join([paragraph] * 12)
    cells = fit.fit_to_screen([text(source, "slide")])
    assert [kind(c) for c in cells][0] == "slide" and len(cells) > 1
    assert all(kind(c) == "subslide" for c in cells[1:])
    assert all(c.source.startswith("## Long section (continued)") for c in cells[1:])
    assert all(fit.text_height(c.source) <= fit.SCREEN for c in cells)
    kept = [p for c in cells for p in fit.paragraphs(c.source) if not p.startswith("##")]
    assert kept == [paragraph] * 12


def test_one_paragraph_taller_than_the_screen_is_cut_between_sentences_not_in_math():
    sentence = "The value $x = 1.5$ is measured here. "
    paragraph = (sentence * 200).strip()
    pieces = fit.cut_text(paragraph)
    assert len(pieces) > 1
    assert " ".join(pieces) == paragraph
    assert all(p.count("$") % 2 == 0 for p in pieces)


def test_text_that_continues_a_full_slide_opens_a_subslide():
    tall = "\n\n".join(["Words " * 80] * 3)
    cells = fit.fit_to_screen([text("## A", "slide"), text(tall), text(tall), text("short", "-")])
    assert [kind(c) for c in cells] == ["slide", "-", "subslide", "-"]


def test_estimates_grow_with_the_text():
    assert fit.text_height("word " * 400) > fit.text_height("word " * 40)
    assert fit.text_height("$$\na \\\\\nb \\\\\nc\n$$") > fit.text_height("$$\na\n$$")
    assert fit.lines_height("x" * 3 * fit.CODE_CHARS_PER_LINE) == 3 * fit.CODE_LINE
