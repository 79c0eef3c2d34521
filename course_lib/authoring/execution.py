"""Run a notebook top to bottom in a fresh kernel, in a chosen profile, and record how.

Used by ``make execute`` (to refresh the outputs the book shows) and by ``make bench`` (to time
notebooks against the syllabus budgets). The profile, device and versions that produced the
stored outputs go into the notebook's metadata under ``course``, where the book and the tests
read them, with a digest of every ``course_lib`` module the notebook imports (``make stale``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_lib.authoring.staleness import module_digests
from course_lib.runtime.config import (
    DATA_DIR_ENV,
    PROFILE_ENV,
    PROFILES,
    REPO_ROOT,
    check_profile,
)


@dataclass(frozen=True)
class ExecutionResult:
    path: Path
    profile: str
    seconds: float
    notebook: nbformat.NotebookNode


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()} CPU cores ({cpu}), {device}, torch {torch.__version__}, Python "
        f"{platform.python_version()}"
    )


def data_setting() -> str:
    """The data folder setting for a results file, relative to the repository
    (no machine's folders)."""
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    if not configured:
        return f"`{DATA_DIR_ENV}` unset (the repository's `data/`)"
    return (
        f"`{DATA_DIR_ENV}={os.path.relpath(Path(configured).resolve(), REPO_ROOT)}` "
        "(relative to the repository)"
    )


@contextlib.contextmanager
def kernel_environment(**values: str) -> Iterator[None]:
    """Set environment variables for the kernels started inside, and restore them after.

    A kernel inherits the environment of the process that starts it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute_notebook(path: str | os.PathLike, profile: str, timeout: int = 1800) -> ExecutionResult:
    """Run ``path`` in ``profile``, leaving the file alone; a failure raises CellExecutionError."""
    path = Path(path)
    check_profile(profile)
    notebook = nbformat.read(path, as_version=4)
    code = module_digests(notebook, path.stem)  # before the run: files may change while it runs
    # The profile for the kernel, and no progress-bar widgets, which a static page cannot
    # render (per-epoch log lines remain).
    with kernel_environment(**{PROFILE_ENV: profile, "COURSE_PROGRESS": "off"}):
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            coalesce_streams=True,  # one output block per cell, not one per printed epoch
        )
        began = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - began
    notebook.metadata["course"] = {
        "profile": profile,
        "executed": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(seconds, 1),
        "machine": machine_description(),
        "code": code,  # `make stale` compares these with the files on disk
    }
    return ExecutionResult(path, profile, seconds, notebook)


def execute_and_store(path: str | os.PathLike, profile: str) -> ExecutionResult:
    """Execute and, only if every cell succeeded, write the outputs back to ``path`` atomically."""
    result = execute_notebook(path, profile)
    partial = result.path.with_name(result.path.name + ".partial")
    nbformat.write(result.notebook, partial)
    os.replace(partial, result.path)
    return result


__all__ = [
    "PROFILES",
    "CellExecutionError",
    "ExecutionResult",
    "execute_and_store",
    "execute_notebook",
]
