"""nbgrader assignments: student editions keep public checks and lose solutions and hidden checks;
grading the made-up class of the instructors' page gives the CSV that page shows."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from script_modules import load_script

from course_lib.authoring.assignments import grade_submissions, write_student_editions
from course_lib.authoring.editions import EDITION_MARK

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXAMPLE_GRADES = ROOT / "book" / "grading_example.csv"


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    return {path.stem: path for path in write_student_editions(ROOT / "notebooks", folder)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_editions_keep_public_checks_and_drop_solutions_and_hidden_checks(path, editions):
    original = nbformat.read(path, as_version=4).cells
    edition = nbformat.read(editions[path.stem], as_version=4)
    assert edition.metadata[EDITION_MARK] is True
    assert len(edition.cells) == len(original)
    for before, after in zip(original, edition.cells):
        grading = before.metadata.get("nbgrader")
        if not grading:
            if before.cell_type == "code":
                assert after.source == before.source and after.outputs == before.outputs
            continue
        assert after.outputs == []
        if grading["solution"]:
            solution = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", before.source, re.S)
            assert "raise NotImplementedError()" in after.source
            assert solution.group(1).strip() not in after.source
            assert after.source.startswith(before.source.split("### BEGIN")[0])  # the signature
        else:
            public = re.sub(
                r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n", "", before.source, flags=re.S
            )
            assert after.source == public and "HIDDEN" not in after.source


def test_grading_the_example_class_gives_the_csv_of_the_instructors_page(tmp_path):
    examples = load_script("example_submissions")
    examples.write_examples(tmp_path / "class")
    grades = tmp_path / "class" / "grades.csv"
    scores = grade_submissions(ROOT / "notebooks", tmp_path / "class", grades)
    assert grades.read_text(encoding="utf-8") == EXAMPLE_GRADES.read_text(encoding="utf-8")
    ada = [s.score for s in scores if s.student == "ada"]
    ben = [s.score for s in scores if s.student == "ben"]
    assert ada == [1.0, 1.0] and ben == [
        0.0,
        0.0,
    ]  # Ben's first answer passes only the public check
    with pytest.raises(FileExistsError, match="OVERWRITE=1"):
        grade_submissions(ROOT / "notebooks", tmp_path / "class", grades)


def test_grading_refuses_what_it_cannot_grade(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        grade_submissions(ROOT / "notebooks", tmp_path / "nowhere", tmp_path / "g.csv")
    (tmp_path / "class" / "cho").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="No submissions"):
        grade_submissions(ROOT / "notebooks", tmp_path / "class", tmp_path / "g.csv")
    (tmp_path / "class" / "cho" / "homework.ipynb").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="cho/homework.ipynb"):
        grade_submissions(ROOT / "notebooks", tmp_path / "class", tmp_path / "g.csv")
    assert not (tmp_path / "g.csv").exists()
