"""What clipping does to Gaussian noise: closed forms for clip(x + std * eps, 0, 1).

Clipping to [0, 1] is not a zero-mean operation. On a black pixel (x = 0) only the bright half of
the noise survives, so the corrupted pixel is brighter on average; on a white pixel (x = 1) only the
dark half survives. A model trained to reproduce the corrupted image learns this shift as a grey
veil. These functions give the shift exactly, and undo it for a local mean.
"""

from __future__ import annotations

import math

import torch


def _normal_pdf(z: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-z / math.sqrt(2))


def clipped_gaussian_mean(x: torch.Tensor, std: float) -> torch.Tensor:
    """E[clip(x + std * eps, 0, 1)] for eps ~ N(0, 1), elementwise, in float64.

    With a = -x / std and b = (1 - x) / std (the clip points in units of std):
    P(below 0) * 0 + P(above 1) * 1 + (the part of the Gaussian's mean that lies between), i.e.
    (1 - Phi(b)) + x (Phi(b) - Phi(a)) + std (phi(a) - phi(b)).
    """
    if std < 0:
        raise ValueError(f"std must be non-negative, got {std}.")
    x = torch.as_tensor(x, dtype=torch.float64)
    if std == 0:
        return x.clamp(0.0, 1.0)
    a, b = -x / std, (1.0 - x) / std
    inside = _normal_cdf(b) - _normal_cdf(a)
    return (1.0 - _normal_cdf(b)) + x * inside + std * (_normal_pdf(a) - _normal_pdf(b))


def clipping_bias(x: torch.Tensor, std: float) -> torch.Tensor:
    """The mean of the clipped noise, E[clip(x + std * eps, 0, 1)] - x: about +0.4 std at x = 0."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return clipped_gaussian_mean(x, std) - x


def invert_clipped_mean(mean: torch.Tensor, std: float, iterations: int = 50) -> torch.Tensor:
    """The x in [0, 1] whose clipped-noise mean is ``mean`` (bisection; the mean rises with x).

    Values below the mean at x = 0 map to 0, values above the mean at x = 1 map to 1. Returned in
    the dtype of ``mean``.
    """
    target = torch.as_tensor(mean, dtype=torch.float64)
    low, high = torch.zeros_like(target), torch.ones_like(target)
    for _ in range(iterations):  # 50 halvings: below float64 resolution on [0, 1]
        middle = 0.5 * (low + high)
        too_dark = clipped_gaussian_mean(middle, std) < target
        low = torch.where(too_dark, middle, low)
        high = torch.where(too_dark, high, middle)
    return (0.5 * (low + high)).to(torch.as_tensor(mean).dtype)
