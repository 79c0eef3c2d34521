"""Classical denoisers and corruptions: shapes, ranges, and that they really remove noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from course_lib.baselines.denoise import (
    gaussian_blur,
    median,
    non_local_means,
    total_variation,
    tune_strength,
)
from course_lib.data.corruption import add_gaussian_noise, add_salt_and_pepper


def blobs(n=6, size=28):
    """Smooth synthetic images in [0, 1]: a bright disc at a different place in each."""
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centres = torch.linspace(8, size - 8, n)
    images = [((xs - c) ** 2 + (ys - size / 2) ** 2 < 30).float() for c in centres]
    return torch.stack(images).unsqueeze(1)  # (n, 1, size, size)


def mse(a, b):
    return ((a - b) ** 2).flatten(1).mean(1)  # (N,)


@pytest.fixture
def clean_and_noisy():
    clean = blobs()
    noisy = (
        clean + 0.3 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    ).clamp(0, 1)
    return clean, noisy


@pytest.mark.parametrize(
    "denoise",
    [
        lambda x: gaussian_blur(x, 1.0),
        lambda x: total_variation(x, 0.15),
        lambda x: non_local_means(x, 0.8, 0.3),
        lambda x: median(x, 3),
    ],
    ids=["gaussian", "tv", "nlm", "median"],
)
def test_each_denoiser_keeps_shape_and_range_and_reduces_the_error(denoise, clean_and_noisy):
    clean, noisy = clean_and_noisy
    out = denoise(noisy)
    assert out.shape == noisy.shape and out.dtype == noisy.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert (mse(out, clean) < 0.7 * mse(noisy, clean)).all()


def test_gaussian_blur_matches_scipy_channel_by_channel():
    images = torch.rand(2, 3, 10, 10, generator=torch.Generator().manual_seed(1))
    expected = np.stack(
        [
            [gaussian_filter(c, 0.7, mode="nearest") for c in image]
            for image in images.double().numpy()
        ]
    )
    torch.testing.assert_close(
        gaussian_blur(images, 0.7), torch.from_numpy(expected).float().clamp(0, 1)
    )


def test_median_removes_isolated_salt_and_pepper_completely_on_a_flat_image():
    flat = torch.full((1, 1, 20, 20), 0.5)
    flat[0, 0, 5, 5], flat[0, 0, 12, 7] = 1.0, 0.0
    assert torch.equal(median(flat, 3), torch.full_like(flat, 0.5))


def test_denoisers_reject_a_batch_without_channel_axis():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        gaussian_blur(torch.rand(4, 28, 28), 1.0)


def test_tune_strength_picks_the_best_parameter(clean_and_noisy):
    clean, noisy = clean_and_noisy

    def negative_mse(out, target):
        return -mse(out, target)

    strengths = [0.05, 1.0, 6.0]
    best, best_score = tune_strength(gaussian_blur, strengths, noisy, clean, negative_mse)
    scores = {s: negative_mse(gaussian_blur(noisy, s), clean).mean().item() for s in strengths}
    assert best == max(scores, key=scores.get) == 1.0
    assert best_score == pytest.approx(scores[1.0])


def test_salt_and_pepper_sets_the_requested_share_to_black_or_white():
    x = torch.full((4, 1, 50, 50), 0.5)
    noisy = add_salt_and_pepper(x, 0.2, generator=torch.Generator().manual_seed(0))
    changed = noisy != 0.5
    assert changed.float().mean().item() == pytest.approx(0.2, abs=0.02)
    assert set(noisy[changed].unique().tolist()) == {0.0, 1.0}
    assert (noisy[changed] == 0).float().mean().item() == pytest.approx(0.5, abs=0.05)
    again = add_salt_and_pepper(x, 0.2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)


def test_salt_and_pepper_rejects_amounts_outside_zero_one():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        add_salt_and_pepper(torch.rand(1, 1, 4, 4), 1.5)


def test_add_gaussian_noise_adds_scaled_standard_noise_and_clips():
    x = torch.full((2000, 1, 4, 4), 0.5)
    unclipped = add_gaussian_noise(x, 0.1, generator=torch.Generator().manual_seed(0), clip=False)
    noise = unclipped - x
    assert abs(noise.mean().item()) < 0.002
    assert abs(noise.std().item() - 0.1) < 0.002
    clipped = add_gaussian_noise(x, 1.0, generator=torch.Generator().manual_seed(0))
    assert clipped.min().item() == 0.0 and clipped.max().item() == 1.0
    raw = add_gaussian_noise(x, 1.0, generator=torch.Generator().manual_seed(0), clip=False)
    assert raw.min().item() < 0.0 and raw.max().item() > 1.0
    torch.testing.assert_close(clipped, raw.clamp(0, 1))


def test_add_gaussian_noise_is_reproducible_with_a_generator():
    x = torch.rand(3, 1, 28, 28)
    a = add_gaussian_noise(x, 0.3, generator=torch.Generator().manual_seed(5))
    b = add_gaussian_noise(x, 0.3, generator=torch.Generator().manual_seed(5))
    c = add_gaussian_noise(x, 0.3, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    with pytest.raises(ValueError, match="non-negative"):
        add_gaussian_noise(x, -0.1)
