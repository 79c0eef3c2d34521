"""`make stale`: a notebook's stored outputs record the modules they ran with, and a change to one
of them (or to the notebook's own profile sizes) makes the notebook stale, naming what changed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib.authoring import staleness
from course_lib.authoring.execution import execute_and_store
from course_lib.authoring.staleness import imported_modules, module_digests, why_stale


def loaded_at_import(code: str) -> set[str]:
    """The course_lib modules Python really loads to run ``code`` (a fresh interpreter)."""
    listing = "sorted(m for m in sys.modules if m.split('.')[0] == 'course_lib')"
    probe = f"{code}\nimport json, sys\nprint(json.dumps({listing}))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_every_module_python_loads_is_found_by_reading_the_source():
    code = "from course_lib.training.fit import fit\nimport course_lib.models.autoencoder"
    found = imported_modules(code)
    assert loaded_at_import(code) <= found
    # An import inside a function counts too: recipes imports the loops it may run.
    assert "course_lib.training.fit" in found and "course_lib.runtime.checkpoints" in found


def test_magics_and_markdown_do_not_break_the_reading():
    notebook = new_notebook(
        cells=[
            new_markdown_cell("from course_lib.models import nothing"),
            new_code_cell(
                "%matplotlib inline\n!ls\nfrom course_lib.runtime.checksums import sha256_of"
            ),
        ]
    )
    assert "course_lib.runtime.checksums" in module_digests(notebook, "01_autoencoder")
    assert "course_lib.models" not in module_digests(notebook, "01_autoencoder")


def copy_of_the_package(tmp_path, monkeypatch):
    root = tmp_path / "course_lib"
    shutil.copytree(staleness.PACKAGE_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(staleness, "PACKAGE_ROOT", root)
    return root


def recorded_notebook(tmp_path, stem: str, code: str):
    notebook = new_notebook(cells=[new_code_cell(code)])
    notebook.metadata["course"] = {"executed": "then", "code": module_digests(notebook, stem)}
    path = tmp_path / f"{stem}.ipynb"
    nbformat.write(notebook, path)
    return path


def test_a_changed_module_makes_the_notebook_stale_and_is_named(tmp_path, monkeypatch):
    root = copy_of_the_package(tmp_path, monkeypatch)
    path = recorded_notebook(tmp_path, "01_autoencoder", "from course_lib.training.fit import fit")
    assert why_stale(path) is None
    checks = root / "training" / "checks.py"  # imported by fit, not by the notebook directly
    checks.write_text(checks.read_text() + "\n# a change\n")
    reason = why_stale(path)
    assert "changed: course_lib.training.checks" in reason and "executed then" in reason
    assert "course_lib.training.fit," not in reason  # only what changed is named


def test_a_change_to_a_module_it_does_not_import_leaves_it_current(tmp_path, monkeypatch):
    root = copy_of_the_package(tmp_path, monkeypatch)
    path = recorded_notebook(
        tmp_path, "01_autoencoder", "from course_lib.runtime.checksums import sha256_of"
    )
    style = root / "losses" / "style.py"
    style.write_text(style.read_text() + "\n# a change\n")
    assert why_stale(path) is None


def test_only_the_notebooks_own_profile_sizes_count(tmp_path, monkeypatch):
    code = "from course_lib.runtime.config import settings_for"
    first = recorded_notebook(tmp_path, "01_autoencoder", code)
    second = recorded_notebook(tmp_path, "02_denoising_autoencoder", code)
    settings = {name: dict(profiles) for name, profiles in staleness.NOTEBOOK_SETTINGS.items()}
    settings["01_autoencoder"]["cpu"] = {**settings["01_autoencoder"]["cpu"], "epochs": 99}
    monkeypatch.setattr(staleness, "NOTEBOOK_SETTINGS", settings)
    assert "course_lib.runtime.profiles" in why_stale(first)
    assert why_stale(second) is None


def test_a_notebook_without_a_record_is_stale(tmp_path):
    path = tmp_path / "01_autoencoder.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print(1)")]), path)
    assert "no code digest" in why_stale(path)


def test_execution_records_the_digests_it_ran_with(tmp_path):
    path = tmp_path / "01_autoencoder.ipynb"
    notebook = new_notebook(
        cells=[new_code_cell("from course_lib.runtime.checksums import sha256_of")]
    )
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, path)
    execute_and_store(path, "smoke")
    assert why_stale(path) is None
    assert (
        "course_lib.runtime.checksums"
        in nbformat.read(path, as_version=4).metadata["course"]["code"]
    )
