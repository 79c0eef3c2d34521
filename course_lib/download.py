"""Downloads that are checked before they are used, and that never replace a file already there.

The data loaders call ``fetch_verified`` only when a file is missing and the user's setup allows
a download; nothing here runs at import time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.request import urlopen

DOWNLOAD_TIMEOUT_S = 10.0


def fetch_verified(url: str, destination: Path, expected: str, algorithm: str = "sha256") -> None:
    """Stream ``url`` into a temporary file beside ``destination``; publish it once its digest is ``expected``.

    Raises ``ValueError`` for a wrong digest and ``OSError`` for network or disk trouble; in both
    cases nothing is left behind, and an existing ``destination`` is never replaced.
    """
    handle, partial_name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    partial = Path(partial_name)
    try:
        with os.fdopen(handle, "wb") as out, urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            digest = hashlib.new(algorithm, usedforsecurity=False)
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise ValueError(f"downloaded {algorithm} {digest.hexdigest()}, expected {expected}")
        publish_without_overwrite(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


def publish_without_overwrite(partial: Path, destination: Path) -> None:
    """Give a finished download its final name atomically, keeping any file already there."""
    try:
        os.link(partial, destination)  # atomic, and fails instead of replacing an existing file
    except FileExistsError:
        print(f"{destination} appeared during the download; keeping that file.")
    except OSError:  # a file system without hard links: check, then rename (tiny race window)
        if not destination.exists():
            os.replace(partial, destination)
