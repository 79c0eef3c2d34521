"""The Frechet distance (plain and in the digit judge's feature space) and mode coverage.

The Frechet distance is checked against its closed form on samples built to have exactly known
means and covariances, and against scipy's general matrix square root. The classifier version
uses a quick digit judge trained in a temporary cache folder, on whatever ``$COURSE_DATA_DIR``
holds (without it, an empty folder: the scikit-learn digits fallback). No test uses the network.
"""

from __future__ import annotations

import math
import os
from urllib.error import URLError

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from course_lib.data import download
from course_lib.data.mnist import load_mnist
from course_lib.data.toy import grid_of_gaussians, ring_of_gaussians, two_spirals
from course_lib.evaluation.digit_judge import QUICK_DIGIT_RECIPE, DigitJudge, load_digit_judge
from course_lib.evaluation.sample_quality import (
    ModeCoverage,
    classifier_frechet_distance,
    default_min_count,
    frechet_distance,
    mode_coverage,
    mode_coverage_of,
)
from course_lib.runtime.config import CACHE_DIR_ENV, DATA_DIR_ENV

pytestmark = pytest.mark.filterwarnings("ignore::course_lib.data.mnist.DataFallbackWarning")

QUICK = QUICK_DIGIT_RECIPE


def with_statistics(
    mean: torch.Tensor, cov: torch.Tensor, n: int = 200, seed: int = 0
) -> torch.Tensor:
    """n points (n, d) with sample mean exactly ``mean`` and unbiased covariance exactly ``cov``."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, len(mean), generator=generator, dtype=torch.float64)
    noise = noise - noise.mean(dim=0)
    # Whiten the noise to identity sample covariance, then colour it with cov's Cholesky factor.
    whitened = noise @ torch.linalg.inv(torch.linalg.cholesky(noise.T @ noise / (n - 1))).T
    return whitened @ torch.linalg.cholesky(cov).T + mean


def scipy_frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """The textbook formula with scipy's general sqrtm of S_a S_b, as common FID code does it."""
    a, b = a.double().numpy(), b.double().numpy()
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


# ---------------------------------------------------------------------------------------------
# Frechet distance


def test_distance_of_a_set_to_itself_is_zero():
    features = torch.randn(300, 16, generator=torch.Generator().manual_seed(1))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)


def test_distance_of_a_rank_deficient_set_to_itself_is_near_zero_and_never_negative():
    # Fewer rows than dimensions (a few hundred images, 128 features): a singular covariance.
    features = torch.randn(20, 64, generator=torch.Generator().manual_seed(2))
    distance = frechet_distance(features, features)
    assert 0.0 <= distance < 1e-5


def test_two_large_samples_of_one_gaussian_are_close():
    generator = torch.Generator().manual_seed(3)
    scale = torch.tensor([1.0, 2.0, 0.5, 3.0])
    a = torch.randn(20_000, 4, generator=generator) * scale + 1.0
    b = torch.randn(20_000, 4, generator=generator) * scale + 1.0
    assert frechet_distance(a, b) < 0.01  # against 14.25 for the sum of the variances


def test_distance_equals_the_closed_form_for_diagonal_covariances():
    double = torch.float64
    mean_a, mean_b = (
        torch.tensor([0.0, 1.0, -2.0], dtype=double),
        torch.tensor([1.0, 1.0, 0.5], dtype=double),
    )
    var_a, var_b = (
        torch.tensor([1.0, 4.0, 0.25], dtype=double),
        torch.tensor([9.0, 1.0, 0.25], dtype=double),
    )
    a = with_statistics(mean_a, torch.diag(var_a), seed=4)
    b = with_statistics(mean_b, torch.diag(var_b), n=150, seed=5)
    # sum (mu_a - mu_b)^2 + sum (sigma_a - sigma_b)^2 = (1 + 0 + 6.25) + (4 + 1 + 0) = 12.25
    expected = (mean_a - mean_b).pow(2).sum() + (var_a.sqrt() - var_b.sqrt()).pow(2).sum()
    assert expected.item() == pytest.approx(12.25)
    assert frechet_distance(a, b) == pytest.approx(12.25, rel=1e-9)


def test_distance_agrees_with_scipy_sqrtm_for_full_covariances():
    generator = torch.Generator().manual_seed(6)
    a = torch.randn(500, 8, generator=generator) @ torch.randn(8, 8, generator=generator)
    b = torch.randn(400, 8, generator=generator) @ torch.randn(8, 8, generator=generator) + 0.5
    assert frechet_distance(a, b) == pytest.approx(scipy_frechet_distance(a, b), rel=1e-6)


def test_a_mean_shift_adds_its_square_and_the_distance_grows_with_it():
    features = torch.randn(400, 5, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    direction = torch.tensor([3.0, 4.0, 0.0, 0.0, 0.0], dtype=torch.float64) / 5  # unit length
    shifts = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    distances = [frechet_distance(features, features + shift * direction) for shift in shifts]
    assert distances == pytest.approx([shift**2 for shift in shifts], abs=1e-9)
    assert all(near < far for near, far in zip(distances, distances[1:]))


def test_distance_is_symmetric():
    generator = torch.Generator().manual_seed(8)
    a = torch.randn(300, 10, generator=generator)
    b = torch.rand(250, 10, generator=generator) * 3
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_distance_accepts_float32_and_returns_a_python_float():
    generator = torch.Generator().manual_seed(9)
    distance = frechet_distance(
        torch.randn(50, 3, generator=generator), torch.randn(60, 3, generator=generator)
    )
    assert isinstance(distance, float) and distance > 0


def test_mismatched_feature_sizes_are_refused():
    with pytest.raises(ValueError, match="same feature size d, got 4 and 5"):
        frechet_distance(torch.randn(10, 4), torch.randn(10, 5))


@pytest.mark.parametrize(
    ("a", "message"),
    [
        (torch.randn(1, 4), "at least 2 rows"),
        (torch.randn(10), r"matrix \(N, d\)"),
        (torch.full((10, 4), float("nan")), "NaN or infinite"),
    ],
    ids=["one-row", "vector", "nan"],
)
def test_unusable_feature_sets_are_refused(a, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(a, torch.randn(10, 4))
    with pytest.raises(ValueError, match=message):
        frechet_distance(torch.randn(10, 4), a)


# ---------------------------------------------------------------------------------------------
# In the digit judge's feature space


def _no_network(*args, **kwargs):
    raise URLError("the tests do not use the network")


@pytest.fixture(scope="module")
def judge_and_digits(tmp_path_factory) -> tuple[DigitJudge, torch.Tensor, torch.Tensor]:
    """A quick judge in its own cache folder, with 300 held-out digits and 300 training digits."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(download, "urlopen", _no_network)
        patch.setenv("COURSE_PROGRESS", "off")
        patch.setenv(CACHE_DIR_ENV, str(tmp_path_factory.mktemp("judge-cache")))
        if not os.environ.get(DATA_DIR_ENV, "").strip():
            patch.setenv(DATA_DIR_ENV, str(tmp_path_factory.mktemp("no-data")))
        judge = load_digit_judge(recipe=QUICK)
        data = load_mnist(QUICK.train_size, QUICK.test_size, seed=QUICK.data_seed)
    return judge, data.test_images[:300], data.train_images[:300]  # the fallback holds 360 held-out


def test_real_digits_are_much_closer_to_real_digits_than_to_noise_blur_or_shifts(judge_and_digits):
    judge, held_out, other_real = judge_and_digits
    noise = torch.rand(held_out.shape, generator=torch.Generator().manual_seed(10))
    blurred = F.avg_pool2d(
        F.pad(held_out, (3, 3, 3, 3), mode="replicate"), 7, stride=1
    )  # 7 x 7 box blur
    shifted = torch.roll(held_out, shifts=(8, 8), dims=(2, 3))  # digit pushed into a corner

    real = classifier_frechet_distance(judge, held_out, other_real)
    # Measured: about 6 (MNIST pool) or 20 (fallback) for real digits, 250 to 1,500 for the others.
    for name, fake in [("noise", noise), ("blurred", blurred), ("shifted", shifted)]:
        assert classifier_frechet_distance(judge, held_out, fake) > 5 * real, name


def test_classifier_distance_is_the_frechet_distance_of_the_judge_features(judge_and_digits):
    judge, held_out, other_real = judge_and_digits
    expected = frechet_distance(judge.features(held_out), judge.features(other_real))
    assert classifier_frechet_distance(
        judge, held_out, other_real.reshape(-1, 784)
    ) == pytest.approx(expected)


def test_pixels_within_rounding_of_the_unit_interval_are_clipped(judge_and_digits):
    judge, held_out, other_real = judge_and_digits
    overshoot = held_out[:50] * 1.008 - 0.004  # e.g. bicubic resizing: [-0.004, 1.004]
    expected = classifier_frechet_distance(judge, overshoot.clamp(0, 1), other_real[:50])
    assert classifier_frechet_distance(judge, overshoot, other_real[:50]) == expected


@pytest.mark.parametrize("which", ["images_a", "images_b"])
def test_tanh_range_images_are_refused_with_the_fix(judge_and_digits, which):
    judge, held_out, _ = judge_and_digits
    tanh_outputs = held_out[:20] * 2 - 1
    images = {"images_a": held_out[:20], "images_b": held_out[:20], which: tanh_outputs}
    with pytest.raises(
        ValueError, match=rf"{which} must hold pixels in \[0, 1\].*\(images \+ 1\) / 2"
    ):
        classifier_frechet_distance(judge, **images)


@pytest.mark.parametrize(
    "images",
    [
        torch.full((5, 784), float("nan")),
        torch.full((5, 784), 255.0),
        torch.zeros(5, 784, dtype=torch.uint8),
    ],
    ids=["nan", "0-255-floats", "uint8"],
)
def test_other_out_of_range_images_are_refused(judge_and_digits, images):
    judge, held_out, _ = judge_and_digits
    with pytest.raises(ValueError, match=r"images_a must hold (float )?pixels in \[0, 1\]"):
        classifier_frechet_distance(judge, images, held_out[:5])


# ---------------------------------------------------------------------------------------------
# Mode coverage


def ring_centres() -> torch.Tensor:
    return ring_of_gaussians(1, modes=8, std=0.02).centres  # (8, 2) on a circle of radius 2


def test_samples_at_every_centre_cover_every_mode_with_full_quality():
    coverage = mode_coverage(ring_centres().repeat(10, 1), ring_centres(), std=0.02)
    assert isinstance(coverage, ModeCoverage)
    assert (coverage.modes_covered, coverage.n_modes, coverage.high_quality_share) == (8, 8, 1.0)
    assert coverage.counts_per_mode.tolist() == [10] * 8 and coverage.covered.all()


def test_samples_at_three_centres_cover_three_modes():
    centres = ring_centres()
    coverage = mode_coverage(centres[[0, 3, 5]].repeat(30, 1), centres, std=0.02)
    assert coverage.modes_covered == 3 and coverage.high_quality_share == 1.0
    assert coverage.counts_per_mode.tolist() == [30, 0, 0, 30, 0, 30, 0, 0]
    assert coverage.covered.nonzero().flatten().tolist() == [0, 3, 5]


def test_samples_far_from_every_centre_cover_nothing():
    far = torch.tensor([[0.0, 0.0], [5.0, 5.0], [-3.0, 0.1], [1.0, 1.0]]).repeat(25, 1)
    coverage = mode_coverage(far, ring_centres(), std=0.02)
    assert (coverage.modes_covered, coverage.high_quality_share) == (0, 0.0)
    assert coverage.counts_per_mode.sum() == 0


def test_a_mixture_of_near_and_far_samples_gives_the_exact_share():
    centres = ring_centres()
    near = centres.repeat(6, 1) + 0.05 * torch.tensor(
        [0.6, -0.8]
    )  # 48 samples 2.5 std from a centre
    far = centres[:4].repeat(3, 1) * 1.2  # 12 samples 0.4 (20 std) outside the ring
    coverage = mode_coverage(torch.cat([near, far]), centres, std=0.02)
    assert coverage.high_quality_share == pytest.approx(48 / 60)
    assert coverage.counts_per_mode.tolist() == [6] * 8 and coverage.modes_covered == 8


def test_the_threshold_boundary_counts_as_inside():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    # std 0.5, threshold 3: the boundary lies 1.5 from a centre; each number is exact in binary.
    on_boundary = torch.tensor([[1.5, 0.0], [0.0, -1.5], [10.0, 1.5]])
    just_outside = torch.tensor([[1.5 + 2**-10, 0.0], [8.5 - 2**-10, 0.0]])
    coverage = mode_coverage(
        torch.cat([on_boundary, just_outside]), centres, std=0.5, threshold=3.0, min_count=1
    )
    assert coverage.high_quality_share == pytest.approx(3 / 5)
    assert coverage.counts_per_mode.tolist() == [2, 1]
    # A wider threshold takes the outside points in; a narrower one drops the boundary points.
    assert mode_coverage(just_outside, centres, std=0.5, threshold=3.01).high_quality_share == 1.0
    assert mode_coverage(on_boundary, centres, std=0.5, threshold=2.99).high_quality_share == 0.0


def test_default_min_count_is_a_tenth_of_the_fair_share():
    assert default_min_count(2_500, 25) == 10
    assert default_min_count(2_000, 8) == 25
    assert default_min_count(8, 8) == 1  # never below one sample
    centres = ring_centres()
    # 800 samples on 8 modes: 10 needed. Mode 0 gets 10, mode 1 only 9, the rest share 781.
    samples = torch.cat(
        [centres[0].repeat(10, 1), centres[1].repeat(9, 1), centres[2:].repeat(131, 1)[:781]]
    )
    coverage = mode_coverage(samples, centres, std=0.02)
    assert coverage.min_count == 10 and coverage.modes_covered == 7
    assert coverage.covered.tolist() == [True, False] + [True] * 6
    assert mode_coverage(samples, centres, std=0.02, min_count=9).modes_covered == 8


def test_a_collapsed_generator_is_not_credited_with_a_few_stray_samples():
    centres = ring_centres()
    collapsed = torch.cat([centres[2].repeat(995, 1), centres[[0, 4, 6, 7, 1]]])  # 1,000 samples
    coverage = mode_coverage(collapsed, centres, std=0.02)
    assert coverage.modes_covered == 1 and coverage.high_quality_share == 1.0
    assert mode_coverage(collapsed, centres, std=0.02, min_count=1).modes_covered == 6


def test_true_ring_samples_cover_all_modes_with_the_rayleigh_share():
    data = ring_of_gaussians(20_000, seed=11)
    coverage = mode_coverage_of(data, data.points)
    assert coverage.modes_covered == 8
    # P(distance <= 3 std) for a 2-D isotropic Gaussian: 1 - exp(-9 / 2) = 0.9889.
    assert coverage.high_quality_share == pytest.approx(1 - math.exp(-4.5), abs=0.004)


def test_mode_coverage_of_uses_the_toy_data_centres_and_std():
    data = grid_of_gaussians(500, seed=12)
    samples = data.centres[:7] + 2.9 * data.std  # 2.9 std in each coordinate: 4.1 std away
    assert mode_coverage_of(data, samples).high_quality_share == 0.0
    assert mode_coverage_of(data, samples, threshold=4.2).modes_covered == 7
    expected = mode_coverage(data.points, data.centres, data.std)
    assert (
        mode_coverage_of(data, data.points).counts_per_mode.tolist()
        == expected.counts_per_mode.tolist()
    )
    assert "25 modes covered" in mode_coverage_of(data, data.points).summary()


def test_mode_coverage_refuses_unusable_inputs():
    centres = ring_centres()
    with pytest.raises(ValueError, match="same D"):
        mode_coverage(torch.zeros(5, 3), centres, std=0.02)
    with pytest.raises(ValueError, match="at least one sample"):
        mode_coverage(torch.zeros(0, 2), centres, std=0.02)
    with pytest.raises(ValueError, match="NaN"):
        mode_coverage(torch.full((4, 2), float("nan")), centres, std=0.02)
    with pytest.raises(ValueError, match="std and threshold must be > 0"):
        mode_coverage(torch.zeros(4, 2), centres, std=0.0)
    with pytest.raises(ValueError, match="min_count must be at least 1"):
        mode_coverage(torch.zeros(4, 2), centres, std=0.02, min_count=0)
    with pytest.raises(ValueError, match="no mixture components"):
        mode_coverage_of(two_spirals(10), torch.zeros(4, 2))
