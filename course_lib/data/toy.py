"""Two-dimensional toy data sets: Gaussian mixtures with known centres, and two spirals.

Every function is deterministic: pass ``seed`` or, to draw several sets from one stream, a
``generator`` (which then takes precedence). Mixtures record their component centres and
standard deviation so that mode coverage and sample quality can be measured later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ToyData:
    """``points`` (n, 2) float32, ``labels`` (n,) int64, ``centres`` (k, 2) float32 or None."""

    points: torch.Tensor
    labels: torch.Tensor
    centres: torch.Tensor | None
    std: float | None  # per-coordinate standard deviation of each component; None for spirals


def _generator(seed: int, generator: torch.Generator | None) -> torch.Generator:
    return generator if generator is not None else torch.Generator().manual_seed(seed)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_count(n: int) -> None:
    _require(
        isinstance(n, int) and not isinstance(n, bool) and n > 0,
        f"n (number of points) must be a positive int, got {n!r}",
    )


def _sample_mixture(
    n: int, centres: torch.Tensor, std: float, generator: torch.Generator
) -> ToyData:
    """n points from an equal-weight mixture of isotropic Gaussians at ``centres`` (k, 2)."""
    labels = torch.randint(len(centres), (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator) * std
    return ToyData(centres[labels] + noise, labels, centres, std)


def ring_of_gaussians(
    n: int,
    modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> ToyData:
    """``modes`` Gaussians evenly spaced on a circle of ``radius`` (the classic GAN mode test)."""
    _check_count(n)
    _require(isinstance(modes, int) and modes >= 1, f"modes must be an int >= 1, got {modes!r}")
    _require(radius > 0, f"radius must be > 0, got {radius!r}")
    _require(std > 0, f"std must be > 0, got {std!r}")
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    centres = radius * torch.stack([angles.cos(), angles.sin()], dim=1)  # (modes, 2)
    return _sample_mixture(n, centres.float(), std, _generator(seed, generator))


def grid_of_gaussians(
    n: int,
    side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> ToyData:
    """``side`` x ``side`` Gaussians on a square grid centred on the origin."""
    _check_count(n)
    _require(isinstance(side, int) and side >= 1, f"side must be an int >= 1, got {side!r}")
    _require(spacing > 0, f"spacing must be > 0, got {spacing!r}")
    _require(std > 0, f"std must be > 0, got {std!r}")
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    rows, cols = torch.meshgrid(ticks, ticks, indexing="ij")
    centres = torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1)  # (side * side, 2)
    return _sample_mixture(n, centres, std, _generator(seed, generator))


def two_spirals(
    n: int,
    noise: float = 0.05,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> ToyData:
    """Two interleaved arms of 1.5 turns out to radius 3; ``labels`` says which arm (0 or 1).

    The angle is drawn as sqrt(uniform), which spreads points roughly evenly along each arm
    (arc length grows with the square of the angle).
    """
    _check_count(n)
    _require(noise >= 0, f"noise must be >= 0, got {noise!r}")
    gen = _generator(seed, generator)
    labels = torch.randint(2, (n,), generator=gen)
    angle = torch.rand(n, generator=gen).sqrt() * (3 * math.pi)
    radius = angle / math.pi
    arm = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)  # (n, 2)
    sign = 1.0 - 2.0 * labels.float()  # the second arm is the first rotated by 180 degrees
    points = arm * sign[:, None] + noise * torch.randn(n, 2, generator=gen)
    return ToyData(points, labels, None, None)
