"""Where the shared data folder stands, for the tests that read real files when it is there.

On the course's machines and in CI, ``../shared/data`` stands beside the repository, and
``$COURSE_DATA_DIR`` names it when set. A new user has neither: the tests that need real MNIST
skip and say why, and everything else runs without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from course_lib.runtime.config import DATA_DIR_ENV, REPO_ROOT


def _shared_data_dir() -> Path:
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else REPO_ROOT.parent / "shared" / "data"


SHARED_DATA = _shared_data_dir()


def needs_shared(*paths: Path) -> pytest.MarkDecorator:
    """Skip unless every one of ``paths`` (files in the shared data folder) exists."""
    missing = [path for path in paths if not path.is_file()]
    return pytest.mark.skipif(
        bool(missing),
        reason=f"needs real data that is not here ({', '.join(p.name for p in missing)} missing "
        "from "
        f"{SHARED_DATA}); set ${DATA_DIR_ENV} to the shared data folder to run this test",
    )
