"""Re-execute notebooks in place in a chosen profile:
``make execute NB=01_autoencoder PROFILE=cpu``.

A notebook is written back only when every cell ran; on an error the stored file is left as it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_lib.authoring.execution import CellExecutionError, execute_and_store
from course_lib.runtime.config import PROFILES

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def resolve(names: list[str]) -> list[Path]:
    if names == ["all"]:
        return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    paths = []
    for name in names:
        path = NOTEBOOKS / (name if name.endswith(".ipynb") else f"{name}.ipynb")
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(NOTEBOOKS.glob("*.ipynb")))
            sys.exit(f"No notebook {path}. Known notebooks: {known} (or 'all').")
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", help="names like 01_autoencoder, or 'all'")
    parser.add_argument("--profile", required=True, choices=PROFILES)
    args = parser.parse_args()
    for path in resolve(args.notebooks):
        print(f"executing {path.name} in profile '{args.profile}' ...", flush=True)
        try:
            result = execute_and_store(path, args.profile)
        except CellExecutionError as error:
            print(f"FAILED: {path.name} was left unchanged.\n{error}", file=sys.stderr)
            return 1
        print(f"  done in {result.seconds:.1f} s, outputs stored in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
