"""The longer runs that notebooks 06 and 09 show: stored with what made them, readable at the
book's width, and never replaced by accident."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "notebooks" / "figures"
BOOK_COLUMN_PX = 780


def png_width(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "big")  # the IHDR chunk's width


def interval_in_order(score: dict[str, float]) -> bool:
    return score["low"] <= score["estimate"] <= score["high"]


@pytest.mark.parametrize("generator", ["paper", "residual"])
def test_stored_stargan_long_runs_record_what_made_them(generator):
    record = json.loads((FIGURES / f"09_stargan_long_{generator}.json").read_text())
    assert record["generator"] == generator
    # 2,000 faces in minibatches of 16, five critic steps per generator step (cpu profile)
    assert record["generator_steps"] == record["epochs"] * (2000 // 16) // 5
    assert all(interval_in_order(score) for score in record["identity"].values())
    assert all(len(values) == record["epochs"] for values in record["per_epoch"].values())
    # The per-face scores (for paired comparisons) are the ones the means summarise.
    for name, values in record["identity_per_face"].items():
        scale = 1 if name.startswith("l1") else 100
        assert len(values) == 400
        assert scale * sum(values) / len(values) == pytest.approx(
            record["identity"][name]["estimate"], rel=1e-6
        )
    assert png_width(FIGURES / f"09_stargan_long_{generator}.png") <= BOOK_COLUMN_PX


def test_stored_bigan_long_run_records_what_made_it():
    record = json.loads((FIGURES / "06_bigan_long.json").read_text())
    assert record["epochs"] > 30  # longer than the book profile's run
    assert interval_in_order(record["digit_kept"])
    for scores in record["probes"].values():
        assert set(scores) == set(record["probe_names"])
        assert all(interval_in_order(score) for score in scores.values())
    assert png_width(FIGURES / "06_bigan_long.png") <= BOOK_COLUMN_PX


@pytest.mark.parametrize(
    "command, stored",
    [
        (["long_run_stargan.py", "--generator", "paper"], "09_stargan_long_paper.png"),
        (["long_run_bigan.py"], "06_bigan_long.png"),
    ],
)
def test_long_run_scripts_refuse_to_replace_stored_results(command, stored):
    # Without the stored files the command would start a long run: check them first.
    assert (FIGURES / stored).is_file()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / command[0]), *command[1:]],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "pass --overwrite" in result.stderr


@pytest.mark.parametrize(
    "command", [["long_run_stargan.py", "--generator", "paper"], ["long_run_bigan.py"]]
)
def test_long_run_scripts_reject_a_non_positive_epoch_count(command):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / command[0]), *command[1:], "--epochs", "0"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "--epochs must be positive" in result.stderr


def test_save_long_run_writes_both_files_and_result_paths_then_refuses(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from course_lib.authoring import long_runs

    monkeypatch.setattr(long_runs, "FIGURES", tmp_path)
    monkeypatch.setattr(long_runs, "REPO_ROOT", tmp_path)
    png, record = long_runs.result_paths("example", overwrite=False)
    figure, _ = plt.subplots(figsize=(2, 1))
    long_runs.save_long_run(figure, {"epochs": 3}, png, record)
    saved = json.loads(record.read_text())
    assert saved["epochs"] == 3 and "CPU cores" in saved["machine"] and saved["finished"]
    assert png_width(png) > 0
    with pytest.raises(FileExistsError, match="--overwrite"):
        long_runs.result_paths("example", overwrite=False)
    assert long_runs.result_paths("example", overwrite=True) == (png, record)


def test_interval_fields_keeps_estimate_and_bounds():
    from course_lib.authoring.long_runs import interval_fields
    from course_lib.evaluation.intervals import Interval

    fields = interval_fields(Interval(0.5, 0.4, 0.6, 0.95))
    assert fields == {"estimate": 0.5, "low": 0.4, "high": 0.6}
    assert interval_in_order(fields)
