"""Run profiles, device choice, seeding and the data directory: the course's few global settings.

Two environment variables steer every notebook:

* ``COURSE_PROFILE``: ``smoke`` (CI: tiny subsets, every cell still runs), ``cpu`` (real results
  within 5 minutes a notebook on a laptop CPU), ``book`` (the stored outputs the book shows: at
  most 20 minutes a notebook on 2 CPU cores, where the lesson needs the training time) or ``gpu``
  (fuller training). Unset, it is ``gpu`` when CUDA is present and ``cpu`` otherwise.
* ``COURSE_DATA_DIR``: where data sets are read from and downloaded to. Unset, it is ``data/`` at
  the repository root (git-ignored).
* ``COURSE_CACHE_DIR``: where trained helpers (such as the frozen attribute judge) are cached.
  Unset, it is ``cache/`` inside the data directory when that is writable, else ``.cache/`` at the
  repository root (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import random
import stat
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from course_lib.runtime.profiles import NOTEBOOK_SETTINGS

PROFILE_ENV = "COURSE_PROFILE"
DATA_DIR_ENV = "COURSE_DATA_DIR"
CACHE_DIR_ENV = "COURSE_CACHE_DIR"
DEVICE_ENV = "COURSE_DEVICE"
CHECKPOINT_DIR_ENV = "COURSE_CHECKPOINT_DIR"
TORCH_HOME_ENV = "TORCH_HOME"
PROGRESS_ENV = "COURSE_PROGRESS"
PROFILES = ("smoke", "cpu", "book", "gpu")
SMOKE_WARNING = (
    "SMOKE RUN: numbers and pictures are meaningless "
    "(tiny data and a few steps, only to check that every cell runs). Run in the cpu or gpu "
    "profile for real results."
)
REPO_ROOT = Path(__file__).resolve().parents[2]  # course_lib/runtime/config.py -> the repository


class UnknownProfileError(ValueError):
    """Raised for a profile name that is not one of ``PROFILES``."""


def check_profile(name: str) -> str:
    """Return ``name`` if it is a known profile, else raise an error that lists the valid ones."""
    if name not in PROFILES:
        raise UnknownProfileError(
            f"Unknown run profile {name!r} (from ${PROFILE_ENV}). "
            f"Valid profiles: {', '.join(PROFILES)}. "
            f"For example: {PROFILE_ENV}=smoke make execute"
        )
    return name


def active_profile() -> str:
    """The profile named by ``$COURSE_PROFILE``, else the default for this hardware."""
    name = os.environ.get(PROFILE_ENV, "").strip().lower()
    if not name:
        return "gpu" if torch.cuda.is_available() else "cpu"
    return check_profile(name)


@dataclass(frozen=True)
class Settings:
    """The sizes one notebook uses in one profile (read-only)."""

    notebook: str
    profile: str
    values: Mapping[str, Any]

    def __getattr__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(
                f"Notebook {self.notebook!r} has no setting {key!r}; "
                f"it has: {', '.join(sorted(self.values))}"
            ) from None

    def describe(self) -> str:
        """``profile 'cpu' for 01_autoencoder:`` then the settings, wrapped for narrow pages.

        In the smoke profile the first line says that the run's numbers and pictures mean nothing.
        """
        pairs = ", ".join(f"{k}={v}" for k, v in self.values.items())
        text = f"profile '{self.profile}' for {self.notebook}:\n" + textwrap.fill(
            pairs, 80, initial_indent="  ", subsequent_indent="  "
        )
        return f"{SMOKE_WARNING}\n{text}" if self.profile == "smoke" else text


def settings_for(notebook: str, profile: str | None = None) -> Settings:
    """The settings of ``notebook`` (for example ``"01_autoencoder"``) in the active profile."""
    profile = check_profile(profile) if profile is not None else active_profile()
    if notebook not in NOTEBOOK_SETTINGS:
        raise KeyError(
            f"No settings for notebook {notebook!r}; known: {', '.join(sorted(NOTEBOOK_SETTINGS))}"
        )
    return Settings(notebook, profile, MappingProxyType(dict(NOTEBOOK_SETTINGS[notebook][profile])))


def check_device(name: str, where: str = f"${DEVICE_ENV}") -> torch.device:
    """The torch device ``name`` ("cpu", "cuda", "cuda:N", "mps"), if this machine has it.

    Any other name, or a device torch cannot see here, is a ValueError that lists the valid
    names and says what ``where`` (the variable or flag it came from) can be set to.
    """
    valid = ["cpu"]
    if torch.cuda.is_available():
        valid += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        valid.append("mps")
    if name.strip().lower() not in valid:
        why = "is not a device name"
        if name.strip().lower().startswith(("cuda", "mps")):
            why = "is not available on this machine (torch sees no such device)"
        raise ValueError(
            f"{where}={name} {why}. Valid here: {', '.join(valid)} (an NVIDIA GPU is 'cuda'; "
            "without it in the list, install the CUDA build of torch: README, 'Using a GPU')."
        )
    return torch.device(name.strip().lower())


def pick_device() -> torch.device:
    """CUDA when available, else CPU; ``$COURSE_DEVICE`` (e.g. ``cpu``, ``cuda:1``) overrides."""
    requested = os.environ.get(DEVICE_ENV, "").strip()
    if requested:
        return check_device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def data_dir() -> Path:
    """The data directory: ``$COURSE_DATA_DIR`` if set, else ``<repo>/data``."""
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    if not configured:
        return REPO_ROOT / "data"
    path = Path(configured).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(
            f"${DATA_DIR_ENV} points to {path}, which is not a directory. "
            f"Create it, fix the path, or unset {DATA_DIR_ENV} to use {REPO_ROOT / 'data'}."
        )
    return path


def is_writable_dir(path: Path) -> bool:
    """Whether files can be created at ``path`` (or, if it does not exist yet, its parents).

    The mode bits are checked as well as ``os.access``: root passes ``os.access`` everywhere, and
    a folder made read-only on purpose (such as a shared data folder) must stay untouched.
    """
    existing = path
    while not existing.exists():
        existing = existing.parent
    write_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    return (
        existing.is_dir()
        and os.access(existing, os.W_OK)
        and bool(existing.stat().st_mode & write_bits)
    )


def cache_dir() -> Path:
    """Where trained helpers are cached, created on use.

    ``$COURSE_CACHE_DIR`` if set; else ``<data dir>/cache`` when the data directory is writable;
    else ``<repo>/.cache`` (git-ignored), so a read-only shared data folder is never written to.
    """
    configured = os.environ.get(CACHE_DIR_ENV, "").strip()
    if configured:
        path = Path(configured).expanduser().resolve()
    elif is_writable_dir(data_dir()):
        path = data_dir() / "cache"
    else:
        path = REPO_ROOT / ".cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def show_progress() -> bool:
    """Whether progress bars are shown: yes unless ``$COURSE_PROGRESS`` is ``off``."""
    return os.environ.get(PROGRESS_ENV, "").strip().lower() != "off"


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` as the course prints it: relative to its setting, never a machine's own folders.

    Printed outputs are stored in the notebooks and published in the book, so they name a location
    by its setting (``$COURSE_DATA_DIR/MNIST/raw``, ``$COURSE_CACHE_DIR/digit_judge_....pt``,
    ``$TORCH_HOME/hub/...``), else relative to the repository (``.cache/...``), else to the home
    folder (``~/...``). A path under none of them is returned as it is. Error messages keep the
    absolute path: whoever reads one is on the machine that has it.
    """
    resolved = Path(path).expanduser().resolve()
    settings = [
        (f"${name}", Path(os.environ[name].strip()).expanduser().resolve())
        for name in (CACHE_DIR_ENV, DATA_DIR_ENV, CHECKPOINT_DIR_ENV, TORCH_HOME_ENV)
        if os.environ.get(name, "").strip()
    ]
    settings.sort(key=lambda pair: len(pair[1].parts), reverse=True)  # the most specific first
    # Settings before the repository, so $COURSE_DATA_DIR wins even when it is a folder inside it.
    for label, root in [*settings, ("", REPO_ROOT), ("~", Path.home().resolve())]:
        if resolved == root or root in resolved.parents:
            relative = resolved.relative_to(root).as_posix()
            if not label:
                return relative
            return label if relative == "." else f"{label}/{relative}"
    return str(path)


@contextlib.contextmanager
def one_cpu_thread() -> Iterator[None]:
    """Run the enclosed torch CPU work on one thread, then restore the caller's thread count.

    The renderer's small elementwise passes (and the judge's small CNN) gain at most 2x from a
    second thread on an idle 2-core machine, but on a busy one two OpenMP threads thrash: 10,000
    faces took 110 s instead of 2.2 s, and a judge epoch 39 s instead of 2.6 s.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
