"""Published checksums: a ``<name>.sha256`` file beside a checkpoint, in ``sha256sum`` format.

A checkpoint vouches for its content with the digest recorded inside it
(``runtime.checkpoints``); a ``.sha256`` file vouches for the exact bytes of a file someone
published, and is what ``sha256sum -c`` checks. Loading checks one when it is there; a save
that changes the bytes removes it, since it would no longer match.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path


class ChecksumError(ValueError):
    """A checkpoint's bytes or content do not match the digest recorded for them."""


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path: str | os.PathLike) -> Path:
    """``model.pt`` -> ``model.pt.sha256``, a line in ``sha256sum`` format."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def write_checksum(path: str | os.PathLike) -> str:
    """Write ``<path>.sha256`` (checkable with ``sha256sum -c``), for publishing a checkpoint;
    return the digest. The sidecar is itself written atomically."""
    digest = sha256_of(path)
    record = checksum_path(path)
    partial = record.with_name(record.name + ".partial")
    partial.write_text(f"{digest}  {Path(path).name}\n")
    os.replace(partial, record)
    return digest


_SHA256SUM_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def read_checksum_file(record: Path) -> tuple[str, str]:
    """(digest, file name) from a ``sha256sum`` line; ``ChecksumError`` if it is not one."""
    lines = record.read_text(errors="replace").strip().splitlines()
    match = _SHA256SUM_LINE.match(lines[0].strip()) if len(lines) == 1 else None
    if match is None:
        shown = "empty" if not lines else f"not one 'sha256sum' line (it starts {lines[0][:40]!r})"
        raise ChecksumError(
            f"{record} is {shown}: expected '<64 hex digits>  <file name>'. Delete it if you "
            "have no correct checksum (the checkpoint's own content digest is still checked), "
            "or copy the right .sha256 file next to the checkpoint."
        )
    return match.group(1).lower(), match.group(2)


def verify_checksum(path: str | os.PathLike, expected: str | None = None) -> str:
    """Check ``path`` against ``expected`` (default: its ``.sha256`` file); return the digest."""
    path = Path(path)
    if expected is None:
        record = checksum_path(path)
        if not record.is_file():
            raise ChecksumError(
                f"{path} has no {record.name} beside it, so it cannot be verified. Copy the "
                ".sha256 file that came with the checkpoint next to it, or pass the expected "
                "sha256."
            )
        expected, name = read_checksum_file(record)
        if Path(name).name != path.name:  # sha256sum may have written a folder before the name
            raise ChecksumError(
                f"{record} is the checksum of {name!r}, not of {path.name!r}. Delete it or "
                "replace it with the checkpoint's own .sha256 file."
            )
    actual = sha256_of(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"{path} is corrupt or not the published file: sha256 {actual}, expected {expected}. "
            "Download or copy it again."
        )
    return actual
