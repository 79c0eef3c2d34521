"""Write student editions of the notebooks: solutions removed, answer places and public checks kept.

make student                                   # notebooks/ -> student/
.venv/bin/python scripts/student_edition.py --out ../class-copies
"""

from __future__ import annotations

import argparse
from pathlib import Path

from course_lib.authoring.assignments import write_student_editions

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--notebooks", type=Path, default=ROOT / "notebooks", help="folder of the course notebooks"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "student", help="folder for the student editions"
    )
    args = parser.parse_args()
    for path in write_student_editions(args.notebooks, args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
