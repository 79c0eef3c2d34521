"""Corruption processes for denoising: what the denoising autoencoder learns to undo."""

from __future__ import annotations

import torch


def add_gaussian_noise(
    x: torch.Tensor, std: float, generator: torch.Generator | None = None, clip: bool = True
) -> torch.Tensor:
    """The ML-team slides' denoising corruption, x + std * N(0, 1) (std 0.3 there).

    ``clip`` keeps the result in [0, 1]."""
    if std < 0:
        raise ValueError(f"std must be non-negative, got {std}.")
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    noisy = x + std * noise
    return noisy.clamp(0.0, 1.0) if clip else noisy


def add_salt_and_pepper(
    x: torch.Tensor, amount: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Set a share ``amount`` of pixels to 0 or 1 (half each), leaving the rest untouched."""
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be a share of pixels in [0, 1], got {amount}.")
    draw = torch.rand(x.shape, generator=generator).to(x.device)
    noisy = x.clone()
    noisy[draw < amount / 2] = 0.0
    noisy[(draw >= amount / 2) & (draw < amount)] = 1.0
    return noisy
