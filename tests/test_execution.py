"""Notebook execution records its profile, and a failing notebook leaves the stored file alone."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_lib.authoring.execution import CellExecutionError, execute_and_store, execute_notebook
from course_lib.runtime.config import UnknownProfileError


def write_notebook(path, *sources):
    notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, path)
    return path


def test_the_kernel_sees_the_requested_profile_and_metadata_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "from course_lib.runtime.config import active_profile; print(active_profile())",
    )
    result = execute_notebook(path, "smoke")
    assert result.notebook.cells[0].outputs[0].text.strip() == "smoke"
    assert result.notebook.metadata["course"]["profile"] == "smoke"
    assert result.seconds > 0
    assert nbformat.read(path, as_version=4).cells[0].outputs == []  # execute_notebook never writes
    assert __import__("os").environ["COURSE_PROFILE"] == "cpu"  # the caller's setting is restored


def test_store_writes_outputs_back(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", "print(6 * 7)")
    execute_and_store(path, "smoke")
    stored = nbformat.read(path, as_version=4)
    assert stored.cells[0].outputs[0].text.strip() == "42"
    assert stored.metadata["course"]["profile"] == "smoke"
    assert not list(tmp_path.glob("*.partial"))


def test_a_failing_notebook_is_left_unchanged(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", "print('fine')", "raise RuntimeError('boom')")
    before = path.read_bytes()
    with pytest.raises(CellExecutionError, match="boom"):
        execute_and_store(path, "smoke")
    assert path.read_bytes() == before


def test_unknown_profile_is_refused_before_running(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", "print(1)")
    with pytest.raises(UnknownProfileError, match="smoke, cpu, book, gpu"):
        execute_notebook(path, "laptop")
