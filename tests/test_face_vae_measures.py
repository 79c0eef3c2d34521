"""Tests of course_lib.evaluation.face_vae_measures against closed forms and direct computation."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from course_lib.evaluation.attribute_judge import Judge
from course_lib.evaluation.face_vae_measures import (
    direction_separation,
    frechet_comparison,
    frechet_interval,
    judge_features,
    judge_frechet_distance,
)
from course_lib.evaluation.sample_quality import frechet_distance
from course_lib.models.attribute_classifier import AttributeClassifier


def tiny_judge(size: int = 16) -> Judge:
    torch.manual_seed(0)
    model = AttributeClassifier(8, widths=(4, 4, 8)).eval()
    return Judge(model, size, {}, "tiny test judge", Path("unused"))


def test_judge_features_are_the_trunk_features_of_the_area_downsampled_faces():
    judge = tiny_judge(16)
    faces = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    expected = judge.model.features(F.avg_pool2d(faces, 2))  # area resize by 2 = 2x2 average
    torch.testing.assert_close(judge_features(judge, faces, batch_size=4), expected.detach())


def test_judge_frechet_distance_is_frechet_distance_of_the_features():
    judge = tiny_judge(16)
    generator = torch.Generator().manual_seed(3)
    a, b = torch.rand(30, 3, 16, 16, generator=generator), torch.rand(30, 3, 16, 16) * 0.5
    expected = frechet_distance(judge_features(judge, a), judge_features(judge, b))
    assert judge_frechet_distance(judge, a, b) == pytest.approx(expected)
    assert judge_frechet_distance(judge, a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="expects faces"):
        judge_features(judge, torch.rand(2, 3, 8, 8))


def test_frechet_interval_brackets_a_clear_shift_and_stays_above_zero():
    generator = torch.Generator().manual_seed(4)
    a = torch.randn(400, 3, generator=generator, dtype=torch.float64)
    b = torch.randn(400, 3, generator=generator, dtype=torch.float64) + torch.tensor([2.0, 0, 0])
    interval = frechet_interval(a, b, resamples=100)
    assert interval.estimate == pytest.approx(frechet_distance(a, b))
    assert interval.low < interval.estimate < interval.high
    assert interval.low > 3.0 and interval.high < 5.5  # the mean shift alone gives 4
    # the standard deviation of the estimate over fresh samples of the same two distributions
    fresh = torch.tensor(
        [
            frechet_distance(
                torch.randn(400, 3, generator=generator, dtype=torch.float64),
                torch.randn(400, 3, generator=generator, dtype=torch.float64)
                + torch.tensor([2.0, 0, 0]),
            )
            for _ in range(200)
        ]
    )
    half_width = (interval.high - interval.low) / 2
    assert half_width == pytest.approx(1.96 * fresh.std().item(), rel=0.35)


def test_frechet_comparison_matches_frechet_interval_for_each_set():
    generator = torch.Generator().manual_seed(5)
    reference = torch.randn(300, 3, generator=generator, dtype=torch.float64)
    near = torch.randn(300, 3, generator=generator, dtype=torch.float64)
    comparison = frechet_comparison(reference, {"near": near}, resamples=50, seed=3)
    assert comparison.distance("near") == frechet_interval(reference, near, resamples=50, seed=3)


def test_frechet_comparison_difference_resolves_a_shift_and_ties_two_equal_sets():
    generator = torch.Generator().manual_seed(6)

    def draw(shift=0.0):
        x = torch.randn(400, 3, generator=generator, dtype=torch.float64)
        return x + torch.tensor([shift, 0.0, 0.0], dtype=torch.float64)

    reference, same_a, same_b, shifted = draw(), draw(), draw(), draw(2.0)
    comparison = frechet_comparison(
        reference, {"a": same_a, "b": same_b, "shifted": shifted}, resamples=100
    )
    far = comparison.difference("shifted", "a")
    assert far.estimate == pytest.approx(
        frechet_distance(reference, shifted) - frechet_distance(reference, same_a)
    )
    assert far.verdict == "higher" and comparison.difference("a", "shifted").verdict == "lower"
    assert comparison.difference("a", "b").verdict == "tie"
    # the interval's half-width against the spread of the difference over fresh draws of all sets
    fresh = []
    for _ in range(150):
        r = draw()
        fresh.append(frechet_distance(r, draw(2.0)) - frechet_distance(r, draw()))
    half_width = (far.high - far.low) / 2
    assert half_width == pytest.approx(1.96 * torch.tensor(fresh).std().item(), rel=0.35)


def test_direction_separation_recovers_the_gap_in_standard_deviations():
    generator = torch.Generator().manual_seed(6)
    shift = torch.zeros(5, dtype=torch.float64)
    shift[2] = 1.5  # unit-variance Gaussians 1.5 apart along one axis: d' = 1.5
    with_ = torch.randn(20_000, 5, generator=generator, dtype=torch.float64) + shift
    without = torch.randn(20_000, 5, generator=generator, dtype=torch.float64)
    assert direction_separation(with_, without) == pytest.approx(1.5, abs=0.05)
    with pytest.raises(ValueError, match="Expected codes"):
        direction_separation(with_, without[:, :3])


def test_frechet_comparison_runs_its_resamples_through_the_bar():
    seen = []

    def bar(resamples):
        seen.append(len(resamples))
        return resamples

    generator = torch.Generator().manual_seed(7)
    reference, other = torch.randn(2, 50, 2, generator=generator, dtype=torch.float64)
    plain = frechet_comparison(reference, {"other": other}, resamples=20)
    with_bar = frechet_comparison(reference, {"other": other}, resamples=20, bar=bar)
    assert seen == [20]
    torch.testing.assert_close(with_bar.replicates, plain.replicates)
