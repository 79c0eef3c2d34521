"""Measurements of GAN samples: a Frechet distance between feature sets, and mode coverage.

Image quality (notebook 06): ``frechet_distance`` compares Gaussians fitted to two sets of
feature vectors, the statistic behind FID (Heusel et al. 2017, ``heusel2017gans``).
``classifier_frechet_distance`` takes the features from the course's own frozen digit classifier
(``course_lib.evaluation.digit_judge``), NOT from Inception-v3, so it is a digit-classifier Frechet
distance, not FID, and its values cannot be compared with published FID numbers.

Mode collapse (notebook 05): ``mode_coverage`` counts how many components of a 2-D Gaussian
mixture (``course_lib.data.toy``) receive high-quality samples, and what share of the samples is
high quality, the two numbers used on the ring-of-8 and grid-of-25 benchmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from course_lib.data.toy import ToyData
from course_lib.evaluation.digit_judge import DigitJudge

# Pixels this far outside [0, 1] are a wrong range, not rounding (e.g. from bicubic resizing).
PIXEL_TOLERANCE = 0.01
# Default coverage rule: a mode needs this fraction of its fair share N / k of the samples.
FAIR_SHARE_FRACTION = 0.1


# ---------------------------------------------------------------------------------------------
# Frechet distance


def _as_feature_matrix(features: torch.Tensor, name: str) -> torch.Tensor:
    """``features`` as float64 (N, d) on the CPU, or a ValueError saying what is wrong."""
    matrix = torch.as_tensor(features).detach().to("cpu", torch.float64)
    if matrix.dim() != 2:
        raise ValueError(
            f"{name} must be a matrix (N, d) of feature vectors, got shape {tuple(matrix.shape)}."
        )
    if len(matrix) < 2:
        raise ValueError(
            f"{name} needs at least 2 rows to estimate a covariance, got {len(matrix)}."
        )
    if not torch.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return matrix


def _mean_and_covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample mean (d,) and unbiased sample covariance (d, d) of the rows of (N, d)."""
    mean = features.mean(dim=0)
    centred = features - mean
    return mean, centred.T @ centred / (len(features) - 1)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix (d, d).

    Rounding can leave eigenvalues of a singular matrix slightly below zero; they are set to 0.
    """
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def _trace_sqrt_product(cov_a: torch.Tensor, cov_b: torch.Tensor) -> torch.Tensor:
    """Tr((S_a S_b)^{1/2}) through the symmetric matrix S_a^{1/2} S_b S_a^{1/2}.

    S_a S_b is not symmetric, and a general matrix square root of it can come out complex from
    rounding alone. S_a^{1/2} S_b S_a^{1/2} has the same eigenvalues (it is similar to S_a S_b
    when S_a is invertible, and the limit of such matrices when it is not) and is symmetric
    positive semi-definite, so its eigenvalues come from ``eigvalsh`` and are real.
    """
    root_a = _psd_sqrt(cov_a)
    inner = root_a @ cov_b @ root_a
    inner = (inner + inner.T) / 2  # symmetric in exact arithmetic; make it so in floating point
    return torch.linalg.eigvalsh(inner).clamp(min=0).sqrt().sum()


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N_a, d) and (N_b, d).

    With sample means mu and unbiased sample covariances S of the rows,

        d^2 = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}),

    the squared 2-Wasserstein distance between N(mu_a, S_a) and N(mu_b, S_b), returned without
    the square root, as FID is. It is 0 for equal statistics, symmetric, and for diagonal
    covariances reduces to sum_i (mu_a,i - mu_b,i)^2 + (sigma_a,i - sigma_b,i)^2. Heusel et al.
    (2017, ``heusel2017gans``) proposed it on Inception-v3 features as the FID. Computed here in
    float64 via the symmetric form (S_a^{1/2} S_b S_a^{1/2})^{1/2} (see ``_trace_sqrt_product``);
    rounding can leave a tiny negative total, which is reported as 0.

    The value depends on the feature space: in this course it is the feature space of the
    course's own small digit classifier (``classifier_frechet_distance``), NOT Inception-v3, so
    the numbers are not comparable with published FID values. It also depends on the sample
    sizes (a finite sample of the same distribution gives a positive value that shrinks as N
    grows), so compare distances only at equal N_a and N_b.
    """
    a = _as_feature_matrix(features_a, "features_a")
    b = _as_feature_matrix(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"The two feature sets must have the same feature size d, got {a.shape[1]} and "
            f"{b.shape[1]}."
        )
    mean_a, cov_a = _mean_and_covariance(a)
    mean_b, cov_b = _mean_and_covariance(b)
    spread = cov_a.trace() + cov_b.trace() - 2 * _trace_sqrt_product(cov_a, cov_b)
    squared = (mean_a - mean_b).pow(2).sum() + spread
    return max(squared.item(), 0.0)


def _checked_unit_images(images: torch.Tensor, name: str) -> torch.Tensor:
    """``images`` with rounding slightly outside [0, 1] clipped, or a ValueError naming the fix."""
    if not images.is_floating_point():
        raise ValueError(
            f"{name} must hold float pixels in [0, 1], got {images.dtype}. Fix: divide uint8 "
            "pixels by 255."
        )
    if images.numel() == 0:
        raise ValueError(f"{name} holds no images.")
    low, high = images.min().item(), images.max().item()
    # Written so that NaN fails too.
    if not (low >= -PIXEL_TOLERANCE and high <= 1 + PIXEL_TOLERANCE):
        raise ValueError(
            f"{name} must hold pixels in [0, 1], got values from {low:g} to {high:g}. Fix: map "
            "generator outputs in [-1, 1] (tanh) with (images + 1) / 2; divide uint8 pixels by 255."
        )
    return images.clamp(0.0, 1.0)


def classifier_frechet_distance(
    judge: DigitJudge,
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    batch_size: int = 1_000,
) -> float:
    """Digit-classifier Frechet distance (not Inception FID) between two sets of digit images.

    ``frechet_distance`` of ``judge.features`` (N, 128) of each set: the FID recipe of Heusel et
    al. (2017), but in the feature space of the course's frozen digit classifier instead of
    Inception-v3. Lower means the two sets look more alike to that classifier. The numbers are
    not comparable with published FID values, nor across judges (quote ``judge.source``) or
    sample sizes.

    Images are (N, 1, 28, 28) or flattened (N, 784) with pixels in [0, 1]. A generator with a
    tanh output gives [-1, 1]: map it with (x + 1) / 2 first. Values within 0.01 of the interval
    (rounding) are clipped to it; anything further out raises a ValueError.
    """
    features_a = judge.features(_checked_unit_images(images_a, "images_a"), batch_size)
    features_b = judge.features(_checked_unit_images(images_b, "images_b"), batch_size)
    return frechet_distance(features_a, features_b)


# ---------------------------------------------------------------------------------------------
# Mode coverage


@dataclass(frozen=True)
class ModeCoverage:
    """How a set of samples covers the components ("modes") of a Gaussian mixture.

    A sample is high quality when its Euclidean distance to the nearest centre is at most
    ``threshold`` * std; ``counts_per_mode`` (k,) counts the high-quality samples nearest each
    centre, and a mode is ``covered`` (k,) when that count is at least ``min_count``.
    """

    modes_covered: int
    n_modes: int
    high_quality_share: float
    counts_per_mode: torch.Tensor  # (k,) int64
    covered: torch.Tensor  # (k,) bool
    threshold: float
    min_count: int

    def summary(self) -> str:
        """One line for a notebook.

        For example '6 of 8 modes covered (>= 13 high-quality samples each); ...'."""
        return (
            f"{self.modes_covered} of {self.n_modes} modes covered "
            f"(>= {self.min_count} high-quality samples each); {self.high_quality_share:.1%} of "
            f"samples within {self.threshold:g} std of a centre"
        )


def default_min_count(n_samples: int, n_modes: int) -> int:
    """max(1, ceil(0.1 * N / k)): a tenth of the samples a mode gets when all N are spread evenly.

    Scaling with the fair share N / k keeps the rule meaningful for 8 or 25 modes and any N
    (2,500 samples on 25 modes: 10 each). A collapsed generator is not credited with a mode it
    touches with a few stray samples; a generator that spreads its samples evenly but puts
    fewer than 10% of them near any centre covers none, which its low high-quality share shows.
    """
    return max(1, math.ceil(FAIR_SHARE_FRACTION * n_samples / n_modes))


def _nearest_centre(
    samples: torch.Tensor, centres: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index (N,) of each sample's nearest centre and the Euclidean distance (N,) to it."""
    # Explicit differences rather than torch.cdist, whose matrix-product shortcut can move a
    # sample that lies exactly on the threshold to the other side of it.
    distances = (samples[:, None, :] - centres[None, :, :]).pow(2).sum(dim=-1).sqrt()  # (N, k)
    nearest_distance, nearest = distances.min(dim=1)
    return nearest, nearest_distance


def mode_coverage(
    samples: torch.Tensor,
    centres: torch.Tensor,
    std: float,
    threshold: float = 3.0,
    min_count: int | None = None,
) -> ModeCoverage:
    """Modes covered and high-quality share of samples (N, D) of a mixture with centres (k, D).

    Each sample is assigned to its nearest centre; it is high quality when that distance is at
    most ``threshold`` * ``std`` (the boundary counts as inside), with ``std`` the per-coordinate
    standard deviation of every component. A mode is covered when at least ``min_count``
    high-quality samples are assigned to it; None uses ``default_min_count``.

    This follows the benchmarks of Srivastava et al. (2017, VEEGAN) and later papers on the ring
    of 8 and grid of 25 Gaussians: three standard deviations, and a mode counts as captured when
    it receives high-quality samples (how many varies between papers, hence the explicit rule).
    The true mixture itself does not score a share of 1: in 2-D the distance of a sample to its
    centre follows a Rayleigh distribution, so P(distance <= 3 std) = 1 - exp(-9/2) = 0.989.
    """
    points = torch.as_tensor(samples).detach().to("cpu", torch.float64)
    modes = torch.as_tensor(centres).detach().to("cpu", torch.float64)
    if points.dim() != 2 or modes.dim() != 2 or points.shape[1] != modes.shape[1]:
        raise ValueError(
            "Expected samples (N, D) and centres (k, D) with the same D, got "
            f"{tuple(points.shape)} and {tuple(modes.shape)}."
        )
    if len(points) == 0 or len(modes) == 0:
        raise ValueError(
            f"Need at least one sample and one centre, got {len(points)} and {len(modes)}."
        )
    if not torch.isfinite(points).all():
        raise ValueError("samples contain NaN or infinite values.")
    if not (std > 0 and threshold > 0):
        raise ValueError(
            f"std and threshold must be > 0, got std={std!r}, threshold={threshold!r}."
        )
    if min_count is None:
        min_count = default_min_count(len(points), len(modes))
    elif min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count!r}.")

    nearest, distance = _nearest_centre(points, modes)
    high_quality = distance <= threshold * std  # (N,)
    counts = torch.bincount(nearest[high_quality], minlength=len(modes))  # (k,)
    covered = counts >= min_count
    return ModeCoverage(
        modes_covered=int(covered.sum()),
        n_modes=len(modes),
        high_quality_share=high_quality.double().mean().item(),
        counts_per_mode=counts,
        covered=covered,
        threshold=float(threshold),
        min_count=int(min_count),
    )


def mode_coverage_of(
    data: ToyData, samples: torch.Tensor, threshold: float = 3.0, min_count: int | None = None
) -> ModeCoverage:
    """``mode_coverage`` of ``samples`` against the centres and std of a toy mixture."""
    if data.centres is None or data.std is None:
        raise ValueError(
            "This toy data set has no mixture components (two spirals?); use a ring or grid of "
            "Gaussians."
        )
    return mode_coverage(samples, data.centres, data.std, threshold, min_count)


def em_distance_1d(points_a: torch.Tensor, points_b: torch.Tensor) -> torch.Tensor:
    """W1 between the empirical distributions of two equal-size 1-D samples: mean |a_(i) - b_(i)|.

    In one dimension the optimal transport plan matches the i-th smallest point of one sample with
    the i-th smallest of the other, so no optimisation is needed.
    """
    if points_a.dim() != 1 or points_a.shape != points_b.shape:
        raise ValueError(
            "em_distance_1d needs two 1-D samples of the same size, got shapes "
            f"{tuple(points_a.shape)} and {tuple(points_b.shape)}."
        )
    return (points_a.sort().values - points_b.sort().values).abs().mean()
