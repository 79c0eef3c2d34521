"""The notebooks as stored in the repository (what the book shows) are complete and clean."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_lib.authoring.staleness import why_stale

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")
)


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
