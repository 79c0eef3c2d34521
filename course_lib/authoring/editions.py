"""Student editions of the notebooks: the same notebook with the exercise solutions taken out.

Every notebook ends with written exercises whose solutions sit in a hidden-by-default admonition,

    ```{admonition} Solution
    :class: dropdown
    ...
    ```

``student_edition`` removes each such block from its markdown cell, puts a marked answer place
in its stead, clears the stored outputs of the coding exercises' cells (a check's "Correct" line
must come from the student's own run), and leaves every other cell exactly as it is (code,
outputs, text). nbgrader then takes the coding exercises' solutions and hidden checks out of
their cells (``course_lib.authoring.assignments``), which also writes the folder of editions.
"""

from __future__ import annotations

import re

import nbformat

SOLUTION_BLOCK = re.compile(
    r"```\{admonition\} Solution\n.*?\n```", re.DOTALL
)  # the fence and all it holds
ANSWER_PLACE = "**Your answer.** _Write your answer here, then compare with the course's edition._"
EDITION_MARK = "student_edition"  # notebook metadata key that tells a student copy from an original
NBGRADER = "nbgrader"  # cell metadata key of nbgrader's answer and check cells


def exercise_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The coding exercises' answer and check cells (those nbgrader marks), in order."""
    return [cell for cell in notebook.cells if NBGRADER in cell.metadata]


def solution_blocks(notebook: nbformat.NotebookNode) -> list[str]:
    """Every solution block of the notebook's markdown cells, in order."""
    return [
        block
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for block in SOLUTION_BLOCK.findall(cell.source)
    ]


def student_edition(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with each solution block replaced by ``ANSWER_PLACE`` and the
    coding exercises' outputs cleared.

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
        elif NBGRADER in cell.metadata:
            cell.outputs, cell.execution_count = [], None
    copy.metadata[EDITION_MARK] = True
    return copy
