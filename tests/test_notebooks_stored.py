"""The notebooks as stored in the repository (what the book shows) are complete and clean."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import nbformat
import pytest

from course_lib.authoring.staleness import why_stale

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")
)

BOOK_COLUMN_PX = 780  # 7.5 inches at 100 dpi, and a margin for tight bounding boxes


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip()]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_topic.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_notebook_is_valid_complete_and_in_order(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    errors = [o.get("ename") for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} stores error outputs: {errors}"
    counts = [cell.execution_count for cell in cells]
    assert None not in counts, f"{path.name} has code cells that were never run"
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name} was not run top to bottom in one kernel: {counts}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_come_from_a_real_profile(path):
    metadata = nbformat.read(path, as_version=4).metadata
    assert "course" in metadata, (
        f"{path.name} has no 'course' metadata: store it with `make execute`"
    )
    assert metadata["course"]["profile"] in {"cpu", "book", "gpu"}, (
        f"{path.name} stores outputs of the {metadata['course']['profile']!r} profile; "
        "the book must show cpu, book or gpu results (`make execute NB=... PROFILE=book`)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_recording_their_code_were_produced_by_the_code_now_here(path):
    if "code" not in nbformat.read(path, as_version=4).metadata.get("course", {}):
        pytest.skip(f"{path.name} was executed before code digests were recorded (make stale)")
    reason = why_stale(path)
    assert reason is None, f"{path.name}: {reason}. Re-run it with `make execute NB={path.stem}`."


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_name_their_profile_and_data(path):
    notebook = nbformat.read(path, as_version=4)
    text = "".join(
        o.get("text", "")
        for c in code_cells(notebook)
        for o in c.outputs
        if o.output_type == "stream"
    )
    profile = notebook.metadata["course"]["profile"]
    assert f"profile '{profile}'" in text, (
        f"{path.name}'s outputs do not say which profile produced them"
    )
    assert "MNIST" in text or "data" in text.lower(), (
        f"{path.name}'s outputs do not name their data"
    )


def _notebook_recording_its_code(path):
    notebook = nbformat.read(path, as_version=4)
    if "code" not in notebook.metadata.get("course", {}):
        pytest.skip(f"{path.name} was executed before the rules of readable results applied")
    return notebook


def _png_width(encoded: str) -> int:
    header = base64.b64decode(encoded[:64])
    return struct.unpack(">I", header[16:20])[0]  # IHDR width, big-endian


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_labelled_figure_cell_displays_one_figure_only(path):
    # myst-nb gives the figure's label to every display output of the cell: a second image or
    # a generated conclusion in the same cell would define the label twice in the book (every
    # notebook, old outputs included: the book build no longer moves extra outputs)
    notebook = nbformat.read(path, as_version=4)
    crowded = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        and "figure" in cell.metadata.get("mystnb", {})
        and sum(o.output_type in ("display_data", "execute_result") for o in cell.outputs) > 1
    ]
    assert not crowded, (
        f"{path.name}: the figure cells {crowded} (counted from 0) display more than one output; "
        "move the conclusion or the second image into a cell of its own"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_figures_fit_the_book_column(path):
    # the book's content column is about 750 px; a wider figure is shrunk, and its 9-pt labels
    # become unreadable (figures are stored at 100 dpi)
    notebook = _notebook_recording_its_code(path)
    too_wide = [
        (index, _png_width(output.data["image/png"]))
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
        and _png_width(output.data["image/png"]) > BOOK_COLUMN_PX
    ]
    assert not too_wide, (
        f"{path.name}: figures wider than {BOOK_COLUMN_PX} px as (cell, width): {too_wide}; "
        "make them at most 7.5 inches wide"
    )
