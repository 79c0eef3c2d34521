"""What the long-run scripts share (``scripts/long_run_*.py``): where a longer run's figure and
record go, refusing to replace them by accident, and writing both with the machine and the time.

A notebook whose method needs more training than its book profile allows shows a longer run
trained once by such a script; the notebook only reads the two files next to it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from course_lib.authoring.execution import machine_description
from course_lib.evaluation.intervals import Interval
from course_lib.runtime.config import REPO_ROOT

FIGURES = REPO_ROOT / "notebooks" / "figures"


def result_paths(stem: str, overwrite: bool) -> tuple[Path, Path]:
    """(figure .png, record .json) for ``stem`` in ``FIGURES``; a FileExistsError naming
    ``--overwrite`` when either exists and ``overwrite`` is False."""
    png, record = (FIGURES / stem).with_suffix(".png"), (FIGURES / stem).with_suffix(".json")
    if not overwrite and (png.exists() or record.exists()):
        raise FileExistsError(
            f"{png.name} or {record.name} exists; pass --overwrite to replace them."
        )
    return png, record


def interval_fields(interval: Interval) -> dict[str, float]:
    """An interval as the record stores it: estimate, low and high (the level is 95 %)."""
    return {"estimate": interval.estimate, "low": interval.low, "high": interval.high}


def save_long_run(figure: Figure, record: dict[str, Any], png: Path, record_path: Path) -> None:
    """Write ``figure`` (100 dpi) and ``record`` with the machine and the finishing time added."""
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=100, bbox_inches="tight")
    record = {
        **record,
        "machine": machine_description(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {png.relative_to(REPO_ROOT)} and {record_path.relative_to(REPO_ROOT)}")
