"""StarGAN's translation grid: one row per face, the input then one column per target, at the
book's width; and the stored longer runs that notebook 09 shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
import torch

from course_lib.data.face_domains import two_label_sets
from course_lib.models.stargan import StarGANDiscriminator, StarGANGenerator
from course_lib.objectives.stargan import StarGAN
from course_lib.viz.translation_grids import grid_targets, translation_grid

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "notebooks" / "figures"


def test_grid_has_the_input_and_every_target_for_each_face_at_book_width():
    torch.manual_seed(0)
    objective = StarGAN(
        StarGANGenerator(3, 13, width=4, n_blocks=1, residual=True),
        StarGANDiscriminator(32, 3, 11, width=4),
    )
    faces = two_label_sets(3, 32, seed=0).images
    figure = translation_grid(objective, faces, "title")
    columns = 1 + len(grid_targets())
    assert len(figure.axes) == 3 * columns
    assert figure.get_size_inches()[0] <= 7.5  # the book's column at 100 dpi
    titles = [ax.get_title() for ax in figure.axes[:columns]]
    assert titles[0] == "input" and "glasses" in titles
    # Row 0, column 0 shows the first face itself.
    shown = figure.axes[0].get_images()[0].get_array()
    torch.testing.assert_close(torch.as_tensor(shown), faces[0].permute(1, 2, 0))


@pytest.mark.parametrize("generator", ["paper", "residual"])
def test_stored_long_runs_record_what_made_them(generator):
    record = json.loads((FIGURES / f"09_stargan_long_{generator}.json").read_text())
    assert record["generator"] == generator
    assert record["generator_steps"] == record["epochs"] * (2000 // 16) // 5
    for name, score in record["identity"].items():
        assert score["low"] <= score["estimate"] <= score["high"], name
    # The per-epoch measurements end where the identity scores' run ended.
    assert all(len(values) == record["epochs"] for values in record["per_epoch"].values())
    png = FIGURES / f"09_stargan_long_{generator}.png"
    width = int.from_bytes(png.read_bytes()[16:20], "big")
    assert width <= 780


def test_long_run_script_refuses_to_replace_stored_results_without_overwrite():
    # Without the stored files the command would start an 80-epoch run: check them first.
    assert (FIGURES / "09_stargan_long_paper.png").is_file()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "long_run_stargan.py"), "--generator", "paper"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "pass --overwrite" in result.stderr


def test_long_run_script_rejects_a_non_positive_epoch_count():
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "long_run_stargan.py"),
            "--generator",
            "paper",
            "--epochs",
            "0",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "--epochs must be positive" in result.stderr
