"""Where a notebook looks for a checkpoint made by ``python -m course_lib.recipes``.

This lookup lives apart from the recipes so that a notebook that only asks "is there a
checkpoint to load?" does not import every model and trainer the recipes build (and so does
not go stale, in ``make stale``'s sense, when one of those changes).
"""

from __future__ import annotations

import os
from pathlib import Path

from course_lib.runtime.config import CHECKPOINT_DIR_ENV, REPO_ROOT


def notebook_checkpoint(recipe: str, profile: str) -> Path | None:
    """The checkpoint a notebook should load, or None to train.

    Loading is opt-in: only with ``$COURSE_CHECKPOINT_DIR`` set (for example to ``checkpoints``
    after ``make checkpoints``) does a notebook look for ``<dir>/<recipe>-<profile>.pt``.
    """
    configured = os.environ.get(CHECKPOINT_DIR_ENV, "").strip()
    if not configured:
        return None
    folder = Path(configured).expanduser()
    if not folder.is_absolute():
        folder = REPO_ROOT / folder
    if not folder.is_dir():
        raise FileNotFoundError(
            f"${CHECKPOINT_DIR_ENV} points to {folder}, which is not a directory. "
            f"Fix the path, or unset {CHECKPOINT_DIR_ENV} to train in the notebook."
        )
    return folder / f"{recipe}-{profile}.pt"
