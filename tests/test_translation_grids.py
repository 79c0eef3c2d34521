"""StarGAN's translation grid: one row per face, the input then one column per target, at the
book's width; each column asks for one change where it can."""

from __future__ import annotations

import matplotlib
import torch
from torch import nn

from course_lib.data.face_domains import condition_attributes, two_label_sets
from course_lib.viz.translation_grids import grid_targets, translation_grid

matplotlib.use("Agg")


class _Recorder(nn.Module):
    """A stand-in StarGAN that returns its input and keeps the conditions it was asked for."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))
        self.asked = []

    def translate(self, images, conditions):
        self.asked.append(conditions.cpu())
        return images


def test_grid_has_the_input_and_every_target_for_each_face_at_book_width():
    faces = two_label_sets(4, 32, seed=1)
    recorder = _Recorder()
    figure = translation_grid(recorder, faces.images, faces.attributes, "title")
    columns = 1 + len(grid_targets())
    assert len(figure.axes) == 4 * columns
    assert figure.get_size_inches()[0] <= 7.5  # the book's column at 100 dpi
    titles = [ax.get_title() for ax in figure.axes[:columns]]
    assert titles[0] == "input" and "glasses on" in titles
    shown = figure.axes[0].get_images()[0].get_array()  # row 0, column 0: the first face
    torch.testing.assert_close(torch.as_tensor(shown), faces.images[0].permute(1, 2, 0))
    asked = dict(zip(titles[1:], (condition_attributes(c) for c in recorder.asked)))
    own = faces.attributes
    # A hair column changes the hair colour only; the glasses column the glasses only.
    assert torch.equal(asked["hair: blond"]["glasses"], own["glasses"])
    assert (asked["hair: blond"]["hair_colour"] == 1).all()
    assert torch.equal(asked["glasses on"]["hair_colour"], own["hair_colour"])
    assert (asked["glasses on"]["glasses"] == 1).all()
    assert (asked["happy"]["expression"] == 1).all()
