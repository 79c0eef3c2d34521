"""Student editions of the notebooks: the same notebook with the exercise solutions taken out.

Every notebook ends with exercises whose solutions sit in a hidden-by-default admonition,

    ```{admonition} Solution
    :class: dropdown
    ...
    ```

``student_edition`` removes each such block from its markdown cell, puts a marked answer place
in its stead, and leaves every other cell exactly as it is (code, outputs, text), so the student
copy runs like the original. ``write_student_editions`` does that for a folder of notebooks into a
separate output folder, never into the source folder and never over a file it did not write.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

SOLUTION_BLOCK = re.compile(
    r"```\{admonition\} Solution\n.*?\n```", re.DOTALL
)  # the fence and all it holds
ANSWER_PLACE = "**Your answer.** _Write your answer here, then compare with the course's edition._"
EDITION_MARK = "student_edition"  # notebook metadata key that tells a student copy from an original


def solution_blocks(notebook: nbformat.NotebookNode) -> list[str]:
    """Every solution block of the notebook's markdown cells, in order."""
    return [
        block
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for block in SOLUTION_BLOCK.findall(cell.source)
    ]


def student_edition(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with each solution block replaced by ``ANSWER_PLACE``.

    Raises a ValueError when the notebook has no solution block (nothing to hide: the wrong file,
    or a changed solution format that would otherwise leak every
    answer) or is already a student copy.
    """
    if notebook.metadata.get(EDITION_MARK):
        raise ValueError(
            "This notebook is already a student edition; make it from the course's notebook."
        )
    if not solution_blocks(notebook):
        raise ValueError(
            "No exercise solutions found (expected blocks that open with ```{admonition} "
            "Solution). Is this a course notebook? If the solution format changed, update "
            "course_lib.authoring.editions.SOLUTION_BLOCK."
        )
    copy = nbformat.from_dict(notebook)  # a deep copy: the original stays untouched
    for cell in copy.cells:
        if cell.cell_type == "markdown":
            cell.source = SOLUTION_BLOCK.sub(ANSWER_PLACE, cell.source)
    copy.metadata[EDITION_MARK] = True
    return copy


def write_student_editions(source: Path, target: Path) -> list[Path]:
    """Write the student edition of each ``NN_*.ipynb`` of ``source`` into ``target``; return paths.

    ``target`` must differ from ``source``. An existing file in ``target`` is replaced only if it is
    a student edition itself, so a notebook someone saved there by hand is never overwritten.
    """
    source, target = Path(source).resolve(), Path(target).resolve()
    if source == target:
        raise ValueError(
            f"Write student editions into another folder than the notebooks themselves ({source})."
        )
    notebooks = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"No course notebooks (NN_topic.ipynb) in {source}.")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        destination = target / path.name
        if destination.exists() and not nbformat.read(destination, as_version=4).metadata.get(
            EDITION_MARK
        ):
            raise FileExistsError(
                f"{destination} exists and is not a student edition "
                "(perhaps a student's own work); move it away or choose another output folder."
            )
        nbformat.write(student_edition(nbformat.read(path, as_version=4)), destination)
        written.append(destination)
    return written
