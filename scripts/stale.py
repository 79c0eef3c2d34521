"""``make stale``: list the notebooks whose stored outputs predate a change to the code they import.

Prints nothing (and exits 0) when every notebook's outputs were produced by the ``course_lib``
modules now on disk; otherwise one line per stale notebook, naming what changed, and exits 1.
Refresh one with ``make execute NB=<name> PROFILE=<the profile its first output names>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from course_lib.authoring.staleness import why_stale

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def main() -> int:
    stale = 0
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        reason = why_stale(path)
        if reason:
            print(f"{path.stem}: {reason}")
            stale += 1
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
