"""The 2-D toy data sets: shapes, determinism, balance and geometry."""

from __future__ import annotations

import math
import re
import time

import pytest
import torch

from course_lib.data.toy import ToyData, grid_of_gaussians, ring_of_gaussians, two_spirals

MIXTURES = [
    pytest.param(lambda n, **kw: ring_of_gaussians(n, modes=8, std=0.02, **kw), 8, id="ring"),
    pytest.param(lambda n, **kw: grid_of_gaussians(n, side=5, std=0.05, **kw), 25, id="grid"),
]


@pytest.mark.parametrize("make, k", MIXTURES)
def test_mixture_shapes_and_types(make, k):
    data = make(1000)
    assert isinstance(data, ToyData)
    assert data.points.shape == (1000, 2) and data.points.dtype == torch.float32
    assert data.labels.shape == (1000,) and data.labels.dtype == torch.int64
    assert data.centres.shape == (k, 2) and data.centres.dtype == torch.float32
    assert 0 <= int(data.labels.min()) and int(data.labels.max()) == k - 1


@pytest.mark.parametrize("make, k", MIXTURES)
def test_mixture_is_deterministic_by_seed_and_generator(make, k):
    first, again, other = make(500, seed=3), make(500, seed=3), make(500, seed=4)
    assert torch.equal(first.points, again.points) and torch.equal(first.labels, again.labels)
    assert not torch.equal(first.points, other.points)
    from_generator = make(500, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first.points, from_generator.points)


@pytest.mark.parametrize("make, k", MIXTURES)
def test_each_component_gets_about_n_over_k_points(make, k):
    n = 20_000
    counts = torch.bincount(make(n).labels, minlength=k).float()
    expected = n / k
    # Six binomial standard deviations: fails only if the assignment is really unbalanced.
    tolerance = 6 * math.sqrt(expected * (1 - 1 / k))
    assert (counts - expected).abs().max() < tolerance, counts


@pytest.mark.parametrize("make, k", MIXTURES)
def test_points_lie_near_their_own_centre(make, k):
    data = make(10_000)
    distance = (data.points - data.centres[data.labels]).norm(dim=1)
    assert (distance < 5 * data.std).float().mean() > 0.99
    # ...and the noise really has the stated scale, not a much smaller one.
    assert data.std / 2 < (data.points - data.centres[data.labels]).std() < 2 * data.std


def test_ring_centres_are_evenly_spaced_on_the_circle():
    data = ring_of_gaussians(10, modes=6, radius=3.5)
    assert torch.allclose(data.centres.norm(dim=1), torch.full((6,), 3.5), atol=1e-5)
    neighbour_gaps = (data.centres - data.centres.roll(1, dims=0)).norm(dim=1)
    assert torch.allclose(neighbour_gaps, torch.full((6,), 3.5), atol=1e-5)  # hexagon: side = r


def test_grid_centres_form_a_centred_square_grid():
    centres = grid_of_gaussians(10, side=3, spacing=1.5).centres
    assert torch.allclose(centres.mean(dim=0), torch.zeros(2), atol=1e-6)
    assert sorted(set(centres[:, 0].tolist())) == [-1.5, 0.0, 1.5]
    assert sorted(set(centres[:, 1].tolist())) == [-1.5, 0.0, 1.5]
    assert len({tuple(c) for c in centres.tolist()}) == 9


def test_two_spirals_arms_are_point_reflections_of_each_other():
    data = two_spirals(4000, noise=0.0)
    assert data.points.shape == (4000, 2) and data.points.dtype == torch.float32
    assert data.centres is None and set(data.labels.tolist()) == {0, 1}
    radius = data.points.norm(dim=1)
    assert float(radius.max()) <= 3.0 + 1e-5
    # Noise-free, every point's angle matches its radius on its own arm: theta = pi * r (+ pi).
    angle = torch.atan2(data.points[:, 1], data.points[:, 0])
    arm_angle = math.pi * radius + math.pi * data.labels
    wrapped = torch.remainder(angle - arm_angle + math.pi, 2 * math.pi) - math.pi
    assert wrapped.abs().max() < 1e-3


def test_two_spirals_is_deterministic_and_noise_spreads_points():
    assert torch.equal(two_spirals(300, seed=1).points, two_spirals(300, seed=1).points)
    assert not torch.equal(two_spirals(300, seed=1).points, two_spirals(300, seed=2).points)
    clean, noisy = two_spirals(300, noise=0.0), two_spirals(300, noise=0.3)
    assert torch.equal(clean.labels, noisy.labels)
    assert (noisy.points - clean.points).std() == pytest.approx(0.3, rel=0.2)


def test_hundred_thousand_points_are_fast():
    start = time.perf_counter()
    ring_of_gaussians(100_000)
    grid_of_gaussians(100_000)
    two_spirals(100_000)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: ring_of_gaussians(0), "n (number of points)"),
        (lambda: ring_of_gaussians(10, modes=0), "modes"),
        (lambda: ring_of_gaussians(10, std=0.0), "std"),
        (lambda: ring_of_gaussians(10, radius=-1.0), "radius"),
        (lambda: grid_of_gaussians(-5), "n (number of points)"),
        (lambda: grid_of_gaussians(10, side=0), "side"),
        (lambda: grid_of_gaussians(10, std=-0.1), "std"),
        (lambda: two_spirals(10, noise=-0.1), "noise"),
        (lambda: two_spirals(2.5), "n (number of points)"),
    ],
)
def test_invalid_arguments_raise_clear_value_errors(call, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        call()
