"""Grade a folder of student notebooks with nbgrader and write a CSV of scores per exercise.

make grade SUBMISSIONS=path/to/class                 # -> path/to/class/grades.csv
.venv/bin/python scripts/grade.py path/to/class --grades marks.csv --overwrite

The folder holds one folder per student with that student's notebooks under the course's names:
path/to/class/<student>/03_variational_autoencoder.ipynb. Each notebook runs top to bottom in a
fresh kernel (the smoke profile unless --profile says otherwise) with its hidden checks put back;
no Docker and no network. A row of the CSV is one check: student, notebook, exercise, score,
max_score. See the book's page For instructors.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from course_lib.authoring.assignments import grade_submissions
from course_lib.runtime.config import PROFILES

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("submissions", type=Path, help="folder of <student>/<NN_topic>.ipynb")
    parser.add_argument(
        "--grades", type=Path, help="CSV file to write (default: grades.csv in the folder)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing CSV file")
    parser.add_argument(
        "--profile", default="smoke", choices=PROFILES, help="profile the notebooks run in"
    )
    parser.add_argument(
        "--notebooks", type=Path, default=ROOT / "notebooks", help="folder of the course notebooks"
    )
    args = parser.parse_args()
    grades = args.grades or args.submissions / "grades.csv"
    scores = grade_submissions(
        args.notebooks, args.submissions, grades, profile=args.profile, overwrite=args.overwrite
    )
    students = sorted({score.student for score in scores})
    for student in students:
        mine = [score for score in scores if score.student == student]
        total = sum(score.score for score in mine)
        print(f"{student}: {total:g} of {sum(score.max_score for score in mine):g} points")
    print(f"wrote {grades}")


if __name__ == "__main__":
    main()
