"""Assignments with nbgrader: student editions with their checks, and grading a class's notebooks.

Each course notebook is one nbgrader assignment named after it (``01_autoencoder``, ...). Its
coding exercises are nbgrader cells: an answer cell whose ``### BEGIN SOLUTION`` region nbgrader
replaces by ``raise NotImplementedError()``, and a locked check cell whose ``### BEGIN HIDDEN
TESTS`` region it removes from the student edition and puts back when grading. nbgrader works in
a course folder (``source/``, ``release/``, ``submitted/``, ``autograded/`` and a gradebook
database); the functions here build one in a temporary folder, so an instructor handles only
notebooks and a CSV file. Grading runs each submission in a local Jupyter kernel: no Docker and
no network, but the students' code runs on the grading machine, as with any notebook autograder.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import tempfile
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import nbformat

from course_lib.authoring.editions import EDITION_MARK, student_edition
from course_lib.authoring.execution import kernel_environment
from course_lib.runtime.config import PROFILE_ENV, check_profile

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
CELL_TIMEOUT_S = 1800  # one cell of a notebook in the profile graded (nbgrader's default is 30 s)


def _nbgrader(root: Path):
    """nbgrader's API on the course folder ``root``, keeping the stored outputs of the editions."""
    from nbgrader.apps import NbGraderAPI  # imported here: only assignments need nbgrader
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(root)
    config.ClearOutput.enabled = False  # student editions keep the lesson's figures and numbers
    config.Execute.timeout = CELL_TIMEOUT_S
    config.Execute.interrupt_on_timeout = True
    return NbGraderAPI(config=config)


def _course_notebooks(folder: Path) -> list[Path]:
    notebooks = sorted(Path(folder).glob(NOTEBOOK_PATTERN))
    if not notebooks:
        raise FileNotFoundError(f"No course notebooks (NN_topic.ipynb) in {folder}.")
    return notebooks


def _tool_path() -> dict[str, str]:
    """PATH with this Python's scripts first: nbgrader runs ``alembic`` to set up its database."""
    return {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}


def release(notebooks: list[Path], root: Path) -> dict[str, Path]:
    """Put each notebook's student edition into the nbgrader course folder ``root`` and let
    nbgrader release it; returns the released notebook of each assignment."""
    api = _nbgrader(root)
    released = {}
    for path in notebooks:
        assignment = path.stem
        source = root / "source" / assignment
        source.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_edition(nbformat.read(path, as_version=4)), source / path.name)
        with kernel_environment(**_tool_path()):
            result = api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader could not release {path.name}:\n{result['log'][-2000:]}")
        released[assignment] = root / "release" / assignment / path.name
    return released


def write_student_editions(source: Path, target: Path) -> list[Path]:
    """Write the student edition of each ``NN_*.ipynb`` of ``source`` into ``target``; return paths.

    Written solutions become answer places; coding exercises keep their public checks and lose
    their solutions and hidden checks. ``target`` must differ from ``source``. A file in
    ``target`` is replaced only if it is a student edition itself, so a notebook someone saved
    there by hand is never overwritten.
    """
    source, target = Path(source).resolve(), Path(target).resolve()
    if source == target:
        raise ValueError(
            f"Write student editions into another folder than the notebooks themselves ({source})."
        )
    notebooks = _course_notebooks(source)
    for path in notebooks:
        destination = target / path.name
        if destination.exists() and not nbformat.read(destination, as_version=4).metadata.get(
            EDITION_MARK
        ):
            raise FileExistsError(
                f"{destination} exists and is not a student edition "
                "(perhaps a student's own work); move it away or choose another output folder."
            )
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as course:
        released = release(notebooks, Path(course))
        written = []
        for path in notebooks:
            edition = nbformat.read(released[path.stem], as_version=4)
            edition.metadata[EDITION_MARK] = True
            nbformat.write(edition, target / path.name)
            written.append(target / path.name)
    return written


@dataclass(frozen=True)
class Score:
    """One row of the grades file: one check of one student's notebook."""

    student: str
    notebook: str
    exercise: str
    score: float
    max_score: float


def _submissions(folder: Path, known: set[str]) -> list[tuple[str, Path]]:
    """(student, notebook) pairs of ``folder``/<student>/<NN_topic>.ipynb, checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder. Put each student's notebooks in a folder of its own: "
            "SUBMISSIONS/<student>/<NN_topic>.ipynb."
        )
    pairs, unknown = [], []
    for student in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(student.glob("*.ipynb")):
            (pairs if path.stem in known else unknown).append((student.name, path))
    if unknown:
        names = ", ".join(f"{student}/{path.name}" for student, path in unknown)
        raise ValueError(
            f"Not course notebooks: {names}. Submissions keep the course's file names "
            f"({', '.join(sorted(known)[:2])}, ...); rename them and grade again."
        )
    if not pairs:
        raise FileNotFoundError(
            f"No submissions in {folder}: expected SUBMISSIONS/<student>/<NN_topic>.ipynb."
        )
    return pairs


def grade_submissions(
    notebooks: Path, submissions: Path, grades: Path, *, profile: str = "smoke", overwrite=False
) -> list[Score]:
    """Grade every ``submissions/<student>/<NN_topic>.ipynb`` with nbgrader; write ``grades``.

    Each submission runs top to bottom in a fresh kernel in ``profile`` (``smoke`` by default:
    the checks do not depend on how long the lesson's models train), with the hidden checks put
    back into its check cells. A check scores its points when its cell runs without an error.
    ``grades`` is a CSV file with one row per check of each submitted notebook; an existing file
    is replaced only with ``overwrite``.
    """
    check_profile(profile)
    grades = Path(grades)
    if grades.exists() and not overwrite:
        raise FileExistsError(
            f"{grades} exists; pass --overwrite (make grade OVERWRITE=1) to replace it, or "
            "choose another file."
        )
    course_notebooks = _course_notebooks(notebooks)
    pairs = _submissions(submissions, {path.stem for path in course_notebooks})
    wanted = sorted({path.stem for _, path in pairs})
    with tempfile.TemporaryDirectory() as course:
        root = Path(course)
        release([p for p in course_notebooks if p.stem in wanted], root)
        api = _nbgrader(root)
        for student, path in pairs:
            place = root / "submitted" / student / path.stem
            place.mkdir(parents=True)
            shutil.copyfile(path, place / path.name)
        scores = []
        settings = {**_tool_path(), PROFILE_ENV: profile, "COURSE_PROGRESS": "off"}
        for student, path in pairs:
            with kernel_environment(**settings):
                result = api.autograde(path.stem, student, force=True, create=True)
            if not result["success"]:
                raise RuntimeError(
                    f"nbgrader could not grade {student}/{path.name}:\n{result['log'][-2000:]}"
                )
            scores += _scores(api, student, path.stem)
    grades.parent.mkdir(parents=True, exist_ok=True)
    with grades.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow([field.name for field in fields(Score)])
        writer.writerows(astuple(score) for score in scores)
    return scores


def _scores(api, student: str, assignment: str) -> list[Score]:
    with api.gradebook as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return [
            Score(student, assignment, grade.name, float(grade.score), float(grade.max_score))
            for grade in sorted(notebook.grades, key=lambda grade: grade.name)
        ]
