"""Grid search that does not stop at an edge, and the bias-corrected blur."""

from __future__ import annotations

import pytest
import torch

from course_lib.baselines.denoise import (
    bias_corrected_blur,
    gaussian_blur,
    tune_inside_grid,
)
from course_lib.data.clipped_noise import clipped_gaussian_mean
from course_lib.data.corruption import add_gaussian_noise


def peaked_at(optimum):
    """A fake denoiser and score whose mean score peaks at strength ``optimum``."""

    def denoiser(noisy, strength):
        return torch.full((len(noisy),), float(strength))

    def score(denoised, clean):
        return -((denoised - optimum) ** 2)

    return denoiser, score


@pytest.mark.parametrize("optimum", [0.02, 0.3, 5.0])
def test_geometric_grid_widens_until_the_best_strength_is_inside(optimum):
    denoiser, score = peaked_at(optimum)
    x = torch.zeros(3)
    tuning = tune_inside_grid(denoiser, (0.2, 0.4, 0.8), x, x, score, max_widenings=10)
    assert tuning.inside
    strengths = sorted(tuning.scores)
    # the optimum lies between the chosen strength's neighbours
    position = strengths.index(tuning.best)
    assert strengths[position - 1] < optimum < strengths[position + 1]


def test_arithmetic_grid_respects_its_lowest_value_and_reports_an_edge():
    denoiser, score = peaked_at(-3.0)  # best is below anything allowed
    x = torch.zeros(2)
    tuning = tune_inside_grid(denoiser, (2, 3, 4), x, x, score, step="arithmetic", lowest=1)
    assert sorted(tuning.scores) == [1, 2, 3, 4]
    assert tuning.best == 1 and not tuning.inside


def test_grid_search_with_an_inside_optimum_tries_only_the_grid():
    denoiser, score = peaked_at(0.5)
    x = torch.zeros(2)
    tuning = tune_inside_grid(denoiser, (0.25, 0.5, 1.0), x, x, score)
    assert list(tuning.scores) == [0.25, 0.5, 1.0] and tuning.best == 0.5 and tuning.inside


def test_grid_search_refuses_a_grid_without_an_inside():
    denoiser, score = peaked_at(0.5)
    with pytest.raises(ValueError, match="at least two"):
        tune_inside_grid(denoiser, (0.5,), torch.zeros(1), torch.zeros(1), score)


def test_bias_corrected_blur_removes_the_veil_that_plain_blur_leaves_on_black():
    black = torch.zeros(4, 1, 28, 28)
    noisy = add_gaussian_noise(black, 0.3, generator=torch.Generator().manual_seed(0))
    veil = clipped_gaussian_mean(torch.tensor(0.0), 0.3).item()  # about 0.12
    assert gaussian_blur(noisy, 1.5).mean().item() == pytest.approx(veil, abs=0.01)
    # what is left: blur residuals above the veil, doubled by the inversion (its slope at 0 is
    # about 2) while those below clamp to 0; a fraction of the veil
    assert bias_corrected_blur(noisy, 1.5, 0.3).mean().item() < veil / 3


def test_bias_corrected_blur_is_the_inverse_of_the_mean_curve_on_flat_images():
    levels = torch.tensor([0.0, 0.3, 0.7, 1.0], dtype=torch.float64)
    flat_means = clipped_gaussian_mean(levels, 0.3).view(4, 1, 1, 1).expand(4, 1, 8, 8)
    recovered = bias_corrected_blur(flat_means.contiguous(), 1.0, 0.3)[:, 0, 0, 0]
    torch.testing.assert_close(recovered, levels, atol=1e-6, rtol=0)
