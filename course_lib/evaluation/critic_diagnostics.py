"""Diagnostics of a Wasserstein critic (notebook 07): gradient norms, values on a 2-D grid, and
which interpolation weights a gradient penalty used.

The gradient penalty is a soft constraint: a critic trained with it can have gradient norms above
1 and then overestimate the EM distance. ``critic_gradient_norms`` measures that directly.
``interpolation_weights_used`` recovers the alpha of every interpolate a penalty evaluated, so a
check can tell one alpha per example (correct) from one per pixel (a known bug), which a linear
critic, whose gradient is the same everywhere, cannot.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def critic_gradient_norms(critic: nn.Module, points: torch.Tensor) -> torch.Tensor:
    """||grad_x f(x)||_2 at every point (B, ...) -> (B,); the critic returns scores (B,)."""
    x = points.detach().clone().requires_grad_(True)
    # Example i only affects score i, so the gradient of the sum is every example's own gradient.
    (gradients,) = torch.autograd.grad(critic(x).sum(), x)
    return gradients.flatten(1).norm(dim=1)


def critic_on_grid(
    critic: nn.Module, limit: float, resolution: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 2-D critic's scores on a square grid [-limit, limit]^2: (xs, ys, values), each
    (resolution, resolution), ready for ``plt.contour(xs, ys, values)``."""
    axis = torch.linspace(-limit, limit, resolution)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    with torch.no_grad():
        values = critic(torch.stack([xs.flatten(), ys.flatten()], dim=1)).view(xs.shape)
    return xs, ys, values


class _RecordingCritic(nn.Module):
    """A linear critic that keeps a copy of every batch it scores."""

    def __init__(self, features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return x.flatten(1) @ self.weight


def interpolation_weights_used(
    penalty: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
) -> torch.Tensor:
    """The alpha of every entry of the interpolates x_hat = alpha real + (1 - alpha) fake that
    ``penalty(critic, real, fake)`` scored, shape of ``real``.

    Recovered as (x_hat - fake) / (real - fake), so every entry of ``real - fake`` must be far
    from 0 (draw real and fake from disjoint ranges, e.g. U[0, 1) and U[2, 3)).
    """
    if (real - fake).abs().min() < 1e-3:
        raise ValueError("real and fake must differ in every entry to recover alpha.")
    critic = _RecordingCritic(real[0].numel())
    penalty(critic, real, fake)
    if len(critic.inputs) != 1:
        raise ValueError(
            f"expected the penalty to score one batch, it scored {len(critic.inputs)}."
        )
    return (critic.inputs[0] - fake) / (real - fake)


def one_alpha_per_example(alphas: torch.Tensor, tolerance: float = 1e-4) -> bool:
    """True when every example's entries share one alpha in [0, 1] (up to float rounding)."""
    per_example = alphas.flatten(1)
    spread = per_example.max(dim=1).values - per_example.min(dim=1).values
    in_range = bool(((per_example > -tolerance) & (per_example < 1 + tolerance)).all())
    return in_range and bool((spread < tolerance).all())
