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


def invert_clipped_mean(mean: torch.Tensor, std: float, table_points: int = 4097) -> torch.Tensor:
    """The x in [0, 1] whose clipped-noise mean is ``mean``: the mean rises with x, so it is unique.

    A table of the curve on ``table_points`` values of x gives a first guess by linear
    interpolation; two Newton steps, with the slope d/dx E[clip] = P(0 < x + std * eps < 1), then
    take it to float64 precision. Values below the mean at x = 0 map to 0, values above the mean
    at x = 1 map to 1. Returned in the dtype of ``mean``.
    """
    if std < 0:
        raise ValueError(f"std must be non-negative, got {std}.")
    dtype = torch.as_tensor(mean).dtype
    target = torch.as_tensor(mean, dtype=torch.float64)
    if std == 0:
        return target.clamp(0.0, 1.0).to(dtype)
    grid = torch.linspace(0.0, 1.0, table_points, dtype=torch.float64)
    curve = clipped_gaussian_mean(grid, std)  # strictly rising
    target = target.clamp(curve[0].item(), curve[-1].item()).contiguous()
    right = torch.searchsorted(curve, target).clamp(1, table_points - 1)
    left = right - 1
    fraction = (target - curve[left]) / (curve[right] - curve[left])
    x = grid[left] + fraction * (grid[right] - grid[left])
    for _ in range(2):
        slope = _normal_cdf((1.0 - x) / std) - _normal_cdf(-x / std)
        x = (x - (clipped_gaussian_mean(x, std) - target) / slope).clamp(0.0, 1.0)
    return x.to(dtype)
