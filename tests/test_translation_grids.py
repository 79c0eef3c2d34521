"""StarGAN's translation grid: one row per face, the input then one column per target, at the
book's width."""

from __future__ import annotations

import matplotlib
import torch

from course_lib.data.face_domains import two_label_sets
from course_lib.models.stargan import StarGANDiscriminator, StarGANGenerator
from course_lib.objectives.stargan import StarGAN
from course_lib.viz.translation_grids import grid_targets, translation_grid

matplotlib.use("Agg")


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
