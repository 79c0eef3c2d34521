"""Downloads that are checked before they are used, and that never replace a file already there.

The data loaders call ``fetch_verified`` only when a file is missing and the user's setup allows
a download; nothing here runs at import time.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable
from urllib.request import urlopen

from tqdm.auto import tqdm

from course_lib.runtime.config import (
    show_progress,
)

DOWNLOAD_TIMEOUT_S = 10.0


def fetch_verified(url: str, destination: Path, check: Callable[[Path, Path], None]) -> None:
    """Stream ``url`` to a temporary file beside ``destination``; publish it once ``check`` passes.

    ``check(partial, destination)`` raises ``ValueError`` when the downloaded file is not the one
    expected. On any error (network, disk, a failed check) nothing is left behind, and an
    existing ``destination`` is never replaced. A progress bar shows the bytes received.
    """
    handle, partial_name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    partial = Path(partial_name)
    try:
        with os.fdopen(handle, "wb") as out, urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            size = int(response.headers.get("Content-Length") or 0) or None  # None: size unknown
            with tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                desc=destination.name,
                disable=not show_progress(),
            ) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        check(partial, destination)
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


class CorruptDataError(RuntimeError):
    """A data file exists but is damaged: wrong checksum, bad gzip stream or bad idx layout."""
