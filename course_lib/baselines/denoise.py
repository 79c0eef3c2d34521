"""Classical image denoisers, the baselines a denoising autoencoder has to beat.

Each takes a batch (N, C, H, W) in [0, 1] and one strength parameter, and denoises image by image
with SciPy or scikit-image. ``tune_strength`` picks each method's parameter on validation images,
so the comparison with a trained network is fair: both get to fit something to data.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, median_filter
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

Denoiser = Callable[[torch.Tensor, float], torch.Tensor]


def _per_image(
    images: torch.Tensor, denoise_one: Callable[[np.ndarray], np.ndarray]
) -> torch.Tensor:
    if images.dim() != 4:
        raise ValueError(
            f"Expected a batch of images (N, C, H, W), got shape {tuple(images.shape)}."
        )
    arrays = images.detach().cpu().double().numpy()
    out = np.stack([np.stack([denoise_one(channel) for channel in image]) for image in arrays])
    return torch.from_numpy(out).to(images.dtype).clamp(0, 1)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Convolve with a Gaussian of std ``sigma`` pixels: it removes noise and edges alike."""
    return _per_image(images, lambda channel: gaussian_filter(channel, sigma, mode="nearest"))


def total_variation(images: torch.Tensor, weight: float) -> torch.Tensor:
    """Chambolle's total-variation denoising: keeps sharp edges, flattens smooth regions."""
    return _per_image(images, lambda channel: denoise_tv_chambolle(channel, weight=weight))


def non_local_means(images: torch.Tensor, strength: float, noise_std: float) -> torch.Tensor:
    """Non-local means: averages pixels whose surrounding 3 x 3 patches look alike.

    ``strength`` scales the patch-distance cut-off ``h = strength * noise_std``.
    """
    return _per_image(
        images,
        lambda channel: denoise_nl_means(
            channel,
            h=strength * noise_std,
            sigma=noise_std,
            patch_size=3,
            patch_distance=5,
            fast_mode=True,
        ),
    )


def tune_strength(
    denoiser: Denoiser,
    strengths: Sequence[float],
    noisy: torch.Tensor,
    clean: torch.Tensor,
    score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[float, float]:
    """The strength with the best mean ``score(denoised, clean)`` (higher is better), and it."""
    results = [(float(score(denoiser(noisy, s), clean).mean()), s) for s in strengths]
    best_score, best_strength = max(results)
    return best_strength, best_score


def median(images: torch.Tensor, size: float) -> torch.Tensor:
    """Median over a ``size`` x ``size`` window: the classic remedy for salt-and-pepper noise."""
    return _per_image(
        images, lambda channel: median_filter(channel, size=int(size), mode="nearest")
    )
