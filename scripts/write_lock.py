"""Rewrite constraints.txt from the packages installed in .venv (``make lock``).

Run after changing a pin in pyproject.toml and environment.yml and reinstalling. Local version
labels (``+cpu``) are dropped so that the same lock also admits the CUDA build on a GPU machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "constraints.txt"
HEADER = """\
# Full lock of every package in the course environment, produced by 'pip freeze' in a working
# .venv on Python 3.11 (x86_64, CPU). Installs use it as a constraints file so that the
# transitive versions match the tested ones. Regenerate with 'make lock'.
"""


def main() -> None:
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    pins = sorted((line.split("+")[0] for line in frozen if "==" in line), key=str.lower)
    LOCK.write_text(HEADER + "\n".join(pins) + "\n", encoding="utf-8")
    print(f"wrote {len(pins)} pins to {LOCK}")


if __name__ == "__main__":
    main()
