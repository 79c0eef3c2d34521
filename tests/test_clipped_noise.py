"""Closed forms for Gaussian noise clipped to [0, 1], against quadrature and simulation."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate, stats

from course_lib.data.clipped_noise import (
    clipped_gaussian_mean,
    clipping_bias,
    invert_clipped_mean,
)
from course_lib.data.corruption import add_gaussian_noise


def mean_by_quadrature(x: float, std: float) -> float:
    """E[clip(x + std * eps, 0, 1)] by integrating the clipped value against the normal density."""
    inside, _ = integrate.quad(lambda z: z * stats.norm.pdf(z, x, std), 0.0, 1.0)
    return inside + stats.norm.sf(1.0, x, std)  # everything above 1 counts as 1


@pytest.mark.parametrize("x", [0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("std", [0.1, 0.3, 0.5, 2.0])
def test_closed_form_mean_matches_numerical_integration(x, std):
    got = clipped_gaussian_mean(torch.tensor(x, dtype=torch.float64), std).item()
    assert got == pytest.approx(mean_by_quadrature(x, std), abs=1e-10)


def test_closed_form_mean_matches_the_course_corruption_simulated():
    clean = torch.tensor([0.0, 0.25, 0.5, 0.8, 1.0]).repeat(200_000, 1)  # (draws, 5)
    noisy = add_gaussian_noise(clean.double(), 0.3, generator=torch.Generator().manual_seed(0))
    simulated = noisy.mean(0)
    # 200,000 draws: the standard error of each mean is below 0.3 / sqrt(2e5) = 7e-4.
    torch.testing.assert_close(simulated, clipped_gaussian_mean(clean[0], 0.3), atol=3e-3, rtol=0)


def test_bias_on_black_and_white_pixels_is_plus_and_minus_std_over_root_two_pi():
    # at x = 0 only the positive half survives: E[max(std eps, 0)] = std / sqrt(2 pi), less the
    # tiny part above 1 (std = 0.3: P(eps > 3.33) is 4e-4)
    std = 0.3
    half_normal = std / math.sqrt(2 * math.pi)
    bias = clipping_bias(torch.tensor([0.0, 1.0]), std)
    assert bias[0].item() == pytest.approx(half_normal, abs=1e-3)
    assert bias[1].item() == pytest.approx(-half_normal, abs=1e-3)
    assert bias[0].item() == pytest.approx(-bias[1].item(), abs=1e-12)  # symmetric about 0.5


def test_no_noise_means_no_bias_and_negative_std_is_refused():
    x = torch.linspace(0, 1, 11)
    torch.testing.assert_close(clipped_gaussian_mean(x, 0.0), x.double())
    with pytest.raises(ValueError, match="non-negative"):
        clipped_gaussian_mean(x, -0.1)


@pytest.mark.parametrize("std", [0.0, 0.1, 0.3, 0.5])
def test_inverting_the_mean_recovers_x(std):
    x = torch.linspace(0, 1, 101, dtype=torch.float64)
    torch.testing.assert_close(invert_clipped_mean(clipped_gaussian_mean(x, std), std), x)


def test_inversion_clamps_means_outside_the_reachable_range_and_keeps_dtype():
    lowest = clipped_gaussian_mean(torch.tensor(0.0), 0.3).item()
    means = torch.tensor([0.0, lowest / 2, 1.0], dtype=torch.float32)
    out = invert_clipped_mean(means, 0.3)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, 1.0]), atol=1e-6, rtol=0)
