"""Which ``course_lib`` code produced a result: a digest of the package's source files.

A checkpoint records it, so that a file written by other code says so when it is loaded, and a
notebook can tell whether its stored outputs predate a change to the code it imports.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The first 16 hex digits of the sha256 over every ``course_lib/**/*.py``, path and bytes."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
