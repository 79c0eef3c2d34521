"""Student editions: no solution survives, nothing else changes, and the copy still runs."""

from pathlib import Path

import nbformat
import pytest

from course_lib.authoring.assignments import write_student_editions
from course_lib.authoring.editions import (
    ANSWER_PLACE,
    EDITION_MARK,
    NBGRADER,
    solution_blocks,
    student_edition,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def solution_lines(block: str) -> list[str]:
    """The substantial lines of a solution's body (not its fence or options)."""
    body = block.splitlines()[2:-1]
    return [line.strip() for line in body if len(line.strip()) > 20]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_survives_and_everything_else_is_unchanged(path):
    original = nbformat.read(path, as_version=4)
    blocks = solution_blocks(original)
    student = student_edition(original)
    assert blocks, f"{path.name} has no exercise solutions"
    everything = "\n".join(cell.source for cell in student.cells)
    outside = "\n".join(
        cell.source for cell in original.cells
    )  # the original's text minus its solutions
    for block in blocks:
        outside = outside.replace(block, "")
    leaked = [
        line
        for block in blocks
        for line in solution_lines(block)
        if line in everything and line not in outside
    ]
    assert not leaked, f"solution text left in the student copy of {path.name}: {leaked[:2]}"
    assert everything.count(ANSWER_PLACE) == len(blocks)
    assert len(student.cells) == len(original.cells)
    for before, after in zip(original.cells, student.cells):
        if before.cell_type == "markdown" and solution_blocks(
            nbformat.v4.new_notebook(cells=[before])
        ):
            continue  # a cell that held a solution; checked above
        if NBGRADER in before.metadata:  # a coding exercise: only its stored output goes
            assert after.source == before.source and after.outputs == []
            continue
        assert after == before, f"a cell without a solution changed in {path.name}"
    assert student.metadata[EDITION_MARK] is True
    assert EDITION_MARK not in original.metadata  # the original notebook object is untouched


def test_refuses_notebooks_without_solutions_and_student_copies():
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# no exercises here")])
    with pytest.raises(ValueError, match="No exercise solutions"):
        student_edition(plain)
    student = student_edition(nbformat.read(NOTEBOOKS[0], as_version=4))
    with pytest.raises(ValueError, match="already a student edition"):
        student_edition(student)


def test_writes_a_separate_folder_and_never_overwrites_a_students_file(tmp_path):
    source = tmp_path / "notebooks"
    source.mkdir()
    original = nbformat.read(NOTEBOOKS[0], as_version=4)
    nbformat.write(original, source / NOTEBOOKS[0].name)
    with pytest.raises(ValueError, match="another folder"):
        write_student_editions(source, source)
    target = tmp_path / "student"
    [written] = write_student_editions(source, target)
    assert written == (target / NOTEBOOKS[0].name).resolve()
    assert write_student_editions(source, target) == [
        written
    ]  # its own earlier output may be replaced
    own_work = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("my answers")])
    nbformat.write(own_work, written)
    with pytest.raises(FileExistsError, match="not a student edition"):
        write_student_editions(source, target)
    assert nbformat.read(written, as_version=4).cells[0].source == "my answers"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No course notebooks"):
        write_student_editions(tmp_path / "empty", tmp_path / "elsewhere")
