"""The first cell of every notebook: on Colab, install the course package; elsewhere, nothing.

Colab opens a notebook on its own, without the repository around it, so ``import course_lib``
fails there unless the notebook installs the package first. The cell below does that only when
it runs inside Colab (Colab's kernel has imported ``google.colab`` before any cell runs), from
the repository and commit named by its two constants. In the notebooks in git both are empty:
the cell does nothing in JupyterLab, on Binder and in the tests, and on Colab it stops with the
fix. ``scripts/build_book.py`` (when ``COURSE_REPOSITORY_URL`` is set, as in the Pages workflow)
writes copies with both filled in, the book's repository and the commit it was built from; the
workflow publishes those copies on the branch the book's launch buttons open (``LAUNCH_BRANCH``).

The cell is the same in every notebook: ``insert_colab_cell`` puts it first, and a test compares
each notebook's first cell with ``colab_cell()``.
"""

from __future__ import annotations

import re

import nbformat

CELL_ID = "colab-setup"
# The book hides the cell (it does nothing outside Colab); nbgrader's student editions keep it.
CELL_TAGS = ["remove-cell"]
# The branch the Pages workflow writes: the book's commit plus the filled-in copies of the
# notebooks. The book's Binder and Colab buttons open it.
LAUNCH_BRANCH = "book"

CELL_SOURCE = """\
# Colab only: install the course package, which every later cell imports.
# Elsewhere (JupyterLab, Binder, the tests) this cell does nothing.
import importlib
import subprocess
import sys

COURSE_REPOSITORY = ""  # filled in the copy the book's Colab button opens
COURSE_COMMIT = ""
if "google.colab" in sys.modules:
    if not (COURSE_REPOSITORY and COURSE_COMMIT):
        raise RuntimeError(
            "This copy of the notebook does not say where the course is. "
            "Open it with the Colab button of the published book, or set "
            "COURSE_REPOSITORY to https://github.com/OWNER/REPO and "
            "COURSE_COMMIT to a commit or branch of it, and run this "
            "cell again."
        )
    source = f"git+{COURSE_REPOSITORY}@{COURSE_COMMIT}"
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    # --no-deps keeps Colab's own torch and the other libraries it has;
    # --ignore-requires-python lets the package install on Colab's Python.
    package = ["--no-deps", "--ignore-requires-python", source]
    subprocess.run([*pip, *package], check=True)
    # What the course needs and Colab lacks: the export to the browser.
    subprocess.run([*pip, "onnx", "onnxruntime", "onnxscript"], check=True)
    importlib.invalidate_caches()  # the next cell imports the new package
    print(f"Colab: installed the course package from {source}")"""

_CONSTANT = r'^({name} = )"[^"\n]*"'


def colab_cell() -> nbformat.NotebookNode:
    """A new copy of the cell, as it is stored in the notebooks (both constants empty)."""
    return nbformat.v4.new_code_cell(CELL_SOURCE, id=CELL_ID, metadata={"tags": list(CELL_TAGS)})


def is_colab_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.get("id") == CELL_ID


def insert_colab_cell(notebook: nbformat.NotebookNode) -> bool:
    """Make the cell the notebook's first; True if that changed the notebook.

    An older version in first place only gets the new source: its run (an empty output, its
    execution count) and slide metadata stay, as outside Colab both versions do nothing."""
    stale = [index for index, cell in enumerate(notebook.cells) if is_colab_cell(cell)]
    if stale == [0]:
        changed = notebook.cells[0].source != CELL_SOURCE
        notebook.cells[0].source = CELL_SOURCE
        return changed
    for index in reversed(stale):
        del notebook.cells[index]
    notebook.cells.insert(0, colab_cell())
    return True


def filled_source(repository: str, commit: str) -> str:
    """The cell's source with the repository URL and the commit written into its constants."""
    for name, value in (("COURSE_REPOSITORY", repository), ("COURSE_COMMIT", commit)):
        if '"' in value or "\\" in value or "\n" in value:
            raise ValueError(f"{name} cannot hold {value!r}: quotes, backslashes or newlines")
    source = re.sub(
        _CONSTANT.format(name="COURSE_REPOSITORY"),
        rf'\g<1>"{repository}"',
        CELL_SOURCE,
        flags=re.MULTILINE,
    )
    return re.sub(
        _CONSTANT.format(name="COURSE_COMMIT"), rf'\g<1>"{commit}"', source, flags=re.MULTILINE
    )


def fill_colab_cell(notebook: nbformat.NotebookNode, repository: str, commit: str) -> None:
    """Write the repository and commit into the notebook's first cell, in place."""
    if not notebook.cells or not is_colab_cell(notebook.cells[0]):
        raise ValueError(
            "the notebook does not start with the Colab cell; add it with "
            "`python scripts/colab_cell.py`"
        )
    notebook.cells[0].source = filled_source(repository, commit)
