"""Put the Colab cell (``course_lib.authoring.colab``) first in every notebook:
``python scripts/colab_cell.py [NOTEBOOK ...]``.

Only that cell is written; the stored outputs of the other cells are kept, so re-run a notebook
whose cells moved (``make execute``) before committing it: its execution counts start at the new
cell. ``tests/test_colab_cell.py`` fails while a notebook lacks the cell or holds an old version.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from course_lib.authoring.colab import insert_colab_cell

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        if insert_colab_cell(notebook):
            nbformat.write(notebook, path)
            print(f"{path.name}: Colab cell written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
