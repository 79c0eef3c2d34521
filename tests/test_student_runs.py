"""Every student edition (nbgrader's release) runs top to bottom in the smoke profile with its
answer places unfilled, and then every check cell says that its exercise is not answered yet:
no other cell fails, and no check crashes with another error."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib.authoring.assignments import write_student_editions

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    return {path.stem: path for path in write_student_editions(ROOT / "notebooks", folder)}


def execute_past_errors(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        allow_errors=True,  # run past the failing checks, as "Run All" in a loop would
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return notebook


def run_unanswered(path: Path) -> nbformat.NotebookNode:
    """Execute a student edition past its failing checks. A kernel that dies before it answers
    is started once more: with many kernels starting at once, the TCP port chosen for one can be
    taken by another before it binds ("Address already in use"), which says nothing about the
    notebook."""
    try:
        return execute_past_errors(path)
    except RuntimeError as error:
        if "Kernel died before replying" not in str(error):
            raise
        return execute_past_errors(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_an_unanswered_student_edition_runs_and_each_check_says_what_is_missing(
    path, editions, monkeypatch
):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    notebook = run_unanswered(editions[path.stem])
    errors = {
        index: output
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    }
    checks = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.metadata.get("nbgrader", {}).get("grade")
    ]
    assert sorted(errors) == checks, "only the check cells may fail, and every one must"
    for index in checks:
        error = errors[index]
        assert error.ename == "ExerciseIncomplete", (error.ename, error.evalue)
        assert "is not answered yet" in error.evalue
        assert "NotImplementedError" in error.evalue
    assert os.environ["COURSE_PROFILE"] == "smoke"
