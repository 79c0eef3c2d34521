"""A new user's machine: no shared data folder, no cache, downloads that fail at once.

The data folder is an empty temporary directory, the cache another, and every MNIST mirror a
folder that does not exist. Notebooks 01 and 10 must still run top to bottom in the smoke profile
and say which fallback they used; the MNIST chain tests must pass, skipping (with a reason) only
the tests that need the real files.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from course_lib.authoring.execution import execute_notebook
from course_lib.data.mnist import MIRRORS_ENV
from course_lib.runtime.config import CACHE_DIR_ENV, DATA_DIR_ENV, REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def new_machine(tmp_path, monkeypatch):
    """Settings of a machine with nothing on it; the notebook kernels inherit them."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache))
    monkeypatch.setenv(MIRRORS_ENV, (tmp_path / "no-mirror").as_uri())
    return data


def printed(result) -> str:
    """Everything the executed notebook printed or displayed as text."""
    parts = []
    for cell in result.notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_notebook_01_runs_on_the_digits_fallback_and_says_so(new_machine):
    text = printed(execute_notebook(REPO_ROOT / "notebooks" / "01_autoencoder.ipynb", "smoke"))
    assert (
        "Could not download train-images-idx3-ubyte.gz" in text
    )  # the download was tried, and failed
    assert "WARNING: NOT MNIST: scikit-learn digits fallback" in text
    assert "NOT MNIST: digits fallback" in text  # the short source quoted beside the numbers
    assert "$COURSE_DATA_DIR/MNIST/raw" in text and str(new_machine) not in text
    # The failed download left the folder as it was: an empty MNIST/raw and no partial files.
    assert [p.name for p in new_machine.rglob("*") if p.is_file()] == []


def test_notebook_10_runs_with_its_own_paintings_and_says_which_features_it_used(new_machine):
    text = printed(
        execute_notebook(REPO_ROOT / "notebooks" / "10_neural_style_transfer.ipynb", "smoke")
    )
    assert "The Starry Night" in text and "ships with course_lib, verified by SHA-256" in text
    pretrained = "VGG-19 with pretrained ImageNet weights" in text
    assert pretrained or "VGG-19 with untrained random weights" in text  # it says which, either way
    assert not any(new_machine.iterdir())  # nothing was looked for, or written, in the data folder


def test_the_mnist_chain_tests_pass_with_no_data_and_skip_only_what_needs_real_files(
    new_machine, tmp_path
):
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "tests/test_data_mnist.py",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = completed.stdout + completed.stderr
    assert completed.returncode == 0, report
    skipped = [line for line in report.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all("needs real data that is not here" in line for line in skipped), report
    assert " failed" not in report and " passed" in report
