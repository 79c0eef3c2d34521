"""The code is lint-clean and formatted: ruff, as configured in pyproject.toml (and, for the
notebooks' code cells, notebooks/ruff.toml), finds nothing in the repository.

ruff is the one pinned in pyproject.toml and installed beside this Python (``make env``), so the
test command, ``make lint`` and the pre-commit hooks (.pre-commit-config.yaml) all run the same
version. A failure shows ruff's own report; ``make format`` fixes most of it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT_CONFIG = ROOT / ".pre-commit-config.yaml"
TIMEOUT_S = 300


def pinned_version(package: str) -> str:
    """The exact version of ``package`` pinned in pyproject.toml's dependencies."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    pins = [d.split("==")[1] for d in dependencies if d.split("==")[0] == package]
    assert len(pins) == 1, f"pyproject.toml should pin {package} exactly once, found {pins}"
    return pins[0]


def tool(name: str, module: str) -> list[str]:
    """The command of the environment's ``name``: the executable beside this Python, or
    ``python -m module`` where there is none (a conda environment on Windows, say)."""
    beside = Path(sys.executable).with_name(name)
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", module]


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def test_ruff_is_the_pinned_version():
    done = run([*tool("ruff", "ruff"), "--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ruff", pinned_version("ruff")], (
        f"{done.stdout.strip()} is installed, but pyproject.toml pins ruff=="
        f"{pinned_version('ruff')}; run `make env` (or pip install -c constraints.txt -e .)."
    )


def test_ruff_check_finds_nothing():
    done = run([*tool("ruff", "ruff"), "check", "--no-fix", "."])
    assert done.returncode == 0, (
        "ruff check found problems (`make format` fixes some; shorten long strings, comments "
        f"and docstrings by hand):\n{done.stdout}{done.stderr}"
    )


def test_ruff_format_changes_nothing():
    done = run([*tool("ruff", "ruff"), "format", "--check", "."])
    assert done.returncode == 0, (
        f"files that `ruff format` would change (run `make format`):\n{done.stdout}{done.stderr}"
    )


def test_notebook_code_is_checked_with_the_book_column():
    """ruff applies notebooks/ruff.toml, which extends pyproject.toml, to the notebooks."""
    done = run(
        [*tool("ruff", "ruff"), "check", "--show-settings", "notebooks/01_autoencoder.ipynb"]
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^Settings path: .*notebooks[/\\]ruff\.toml", done.stdout, re.M), done.stdout
    width = tomllib.loads((ROOT / "notebooks" / "ruff.toml").read_text(encoding="utf-8"))[
        "line-length"
    ]
    for setting in ("linter.pycodestyle.max_line_length", "formatter.line_width"):
        assert re.search(rf"^{re.escape(setting)} = {width}$", done.stdout, re.M), setting
    # The rules come from pyproject.toml, through `extend`.
    assert "line-too-long (E501)" in done.stdout and "unsorted-imports (I001)" in done.stdout


def test_pre_commit_config_is_valid():
    done = run([*tool("pre-commit", "pre_commit"), "validate-config", str(PRE_COMMIT_CONFIG)])
    assert done.returncode == 0, f"{PRE_COMMIT_CONFIG.name} is invalid:\n{done.stdout}{done.stderr}"


def test_pre_commit_runs_the_environments_ruff():
    """Every hook is a local one that calls `ruff` from the environment, so pre-commit downloads
    nothing and cannot pin a ruff other than the tests' own; lint and format both run on Python
    files and notebooks."""
    config = yaml.safe_load(PRE_COMMIT_CONFIG.read_text(encoding="utf-8"))
    hooks = []
    for repo in config["repos"]:
        assert repo["repo"] == "local", (
            f"{repo['repo']} would install its own ruff (rev {repo.get('rev')}); use local hooks "
            "with language: system, which run the ruff pinned in pyproject.toml."
        )
        hooks += repo["hooks"]
    commands = {" ".join(hook["entry"].split()[:2]) for hook in hooks}
    assert commands == {"ruff check", "ruff format"}, commands
    for hook in hooks:
        assert hook["language"] == "system", hook
        assert "additional_dependencies" not in hook, hook
        assert set(hook["types_or"]) == {"python", "jupyter"}, hook
        assert "--config" not in hook["entry"], "the hooks must read the tests' configuration"
