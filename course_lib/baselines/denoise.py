"""Classical image denoisers, the baselines a denoising autoencoder has to beat.

Each takes a batch (N, C, H, W) in [0, 1] and one strength parameter, and denoises image by image
with SciPy or scikit-image. ``tune_strength`` picks each method's parameter on validation images,
so the comparison with a trained network is fair: both get to fit something to data;
``tune_inside_grid`` also widens the grid until the chosen parameter is not at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, median_filter
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

from course_lib.data.clipped_noise import invert_clipped_mean

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


def bias_corrected_blur(images: torch.Tensor, sigma: float, noise_std: float) -> torch.Tensor:
    """Gaussian blur, then undo the brightening that clipping to [0, 1] gave the noise.

    The blur estimates the local mean of the corrupted image, which for Gaussian noise of std
    ``noise_std`` clipped to [0, 1] is E[clip(x + noise)], not x: a black background comes out
    about 0.4 ``noise_std`` bright. Inverting that (rising) curve maps the local mean back to x.
    """
    return invert_clipped_mean(gaussian_blur(images, sigma), noise_std)


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


@dataclass(frozen=True)
class Tuning:
    """The outcome of a grid search: the chosen strength and the mean score at every strength."""

    best: float
    scores: dict[float, float]  # strength -> mean score, in increasing strength

    @property
    def inside(self) -> bool:
        """True when the chosen strength has a tried neighbour on both sides (not at an edge)."""
        return min(self.scores) < self.best < max(self.scores)


def tune_inside_grid(
    denoiser: Denoiser,
    grid: Sequence[float],
    noisy: torch.Tensor,
    clean: torch.Tensor,
    score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    step: str = "geometric",
    lowest: float = 0.0,
    max_widenings: int = 8,
) -> Tuning:
    """Like ``tune_strength``, but widen the grid while the best strength sits at its edge.

    An optimum on the edge of a grid may lie beyond it, which would handicap the baseline. Each
    widening adds one point past that edge, at the edge's own spacing (``step="geometric"``:
    the ratio of the two outermost points, ``"arithmetic"``: their difference). Points below
    ``lowest`` (or, geometric, not above 0) are never tried; ``Tuning.inside`` says whether the
    search ended with the best strength inside the grid.
    """
    if len(grid) < 2:
        raise ValueError(f"A grid needs at least two strengths to have an inside, got {grid}.")
    if step not in ("geometric", "arithmetic"):
        raise ValueError(f"step must be 'geometric' or 'arithmetic', got {step!r}.")
    scores: dict[float, float] = {}

    def try_strength(strength: float) -> None:
        scores[strength] = float(score(denoiser(noisy, strength), clean).mean())

    for strength in sorted(set(grid)):
        try_strength(strength)
    for _ in range(max_widenings):
        tried = sorted(scores)
        best = max(tried, key=scores.get)
        if tried[0] < best < tried[-1]:
            break
        if best == tried[-1]:
            edge, inner = tried[-1], tried[-2]
        else:
            edge, inner = tried[0], tried[1]
        beyond = edge * edge / inner if step == "geometric" else 2 * edge - inner
        if beyond < lowest or (step == "geometric" and beyond <= 0):
            break
        try_strength(beyond)
    ordered = dict(sorted(scores.items()))
    return Tuning(best=max(ordered, key=ordered.get), scores=ordered)


def median(images: torch.Tensor, size: float) -> torch.Tensor:
    """Median over a ``size`` x ``size`` window: the classic remedy for salt-and-pepper noise."""
    return _per_image(
        images, lambda channel: median_filter(channel, size=int(size), mode="nearest")
    )
