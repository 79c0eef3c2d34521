"""Every cell that took over about 5 s in a notebook's stored cpu run shows progress when run live.

The stored run's cell timings (nbclient writes them into each cell's metadata) say which cells are
slow. Such a cell must call something that draws a tqdm bar
(``course_lib.training.steps.progress``, or a course function that uses it), directly or through a
function defined earlier in the notebook. The bars are hidden in the stored outputs
(``COURSE_PROGRESS=off``), so they are checked in the code.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from datetime import datetime

import pytest

from course_lib.authoring import colab
from course_lib.baselines import sklearn_rbm
from course_lib.evaluation import ais
from course_lib.runtime.config import REPO_ROOT
from course_lib.training import adversarial, dbn, fit, rbm, steps
from course_lib.training import image_optimiser as optimise
from course_lib.training.translation import train_cyclegan, train_pix2pix, train_stargan

SLOW_SECONDS = 5.0
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Course functions that draw a bar while they run, and the function objects that prove it.
SHOWS_PROGRESS = {
    "progress": steps.progress,
    "fit": fit.fit,
    "train_gan": adversarial.train_gan,
    "train_rbm": rbm.train_rbm,
    "greedy_pretrain": dbn.greedy_pretrain,
    "wake_sleep": dbn.wake_sleep,
    "ais_log_partition": ais.ais_log_partition,
    "compare_with_sklearn": sklearn_rbm.compare_with_sklearn,
    "transfer": optimise.transfer,
    "train_pix2pix": train_pix2pix,
    "train_cyclegan": train_cyclegan,
    "train_stargan": train_stargan,
}


def seconds(cell: dict) -> float:
    times = cell["metadata"].get("execution", {})
    if "iopub.execute_input" not in times:
        return 0.0
    start, end = (
        datetime.fromisoformat(times[key].replace("Z", "+00:00"))
        for key in ("iopub.execute_input", "shell.execute_reply")
    )
    return (end - start).total_seconds()


def called_names(tree: ast.AST) -> set[str]:
    """Names of the functions a piece of code calls, leaving out calls that turn progress off."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            off = any(
                k.arg == "progress" and isinstance(k.value, ast.Constant) and k.value.value is False
                for k in node.keywords
            )
            if not off:
                names.add(
                    node.func.id
                    if isinstance(node.func, ast.Name)
                    else getattr(node.func, "attr", "")
                )
    return names


def slow_cells_without_progress(path) -> list[str]:
    shows = set(SHOWS_PROGRESS)
    missing = []
    code_cells = [
        cell
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
        if cell["cell_type"] == "code" and cell.get("id") != colab.CELL_ID  # Colab only
    ]
    for number, cell in enumerate(code_cells):
        tree = ast.parse("".join(cell["source"]))
        for function in (node for node in tree.body if isinstance(node, ast.FunctionDef)):
            if called_names(function) & shows:
                shows.add(function.name)  # a notebook's own helper that trains with a bar
        took = seconds(cell)
        if (
            took > SLOW_SECONDS and number > 0 and not called_names(tree) & shows
        ):  # code cell 0: the imports
            missing.append(
                f"code cell {number} ({took:.0f} s): {''.join(cell['source']).splitlines()[0]}"
            )
    return missing


def test_the_course_functions_listed_really_draw_a_bar():
    for name, function in SHOWS_PROGRESS.items():
        if name != "progress":
            source = inspect.getsource(function)
            draws = re.search(r"\bprogress(_bar)?\(", source) or any(
                f"{other}(" in source for other in SHOWS_PROGRESS
            )
            assert draws, f"{name} neither draws a bar nor calls a function that does"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_slow_cell_shows_progress(path):
    assert slow_cells_without_progress(path) == []
