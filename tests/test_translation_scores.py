"""Translation scores: per-image L1 and SSIM against independent references, the judge's
per-attribute reading, and the t interval of paired per-seed differences."""

from __future__ import annotations

import math

import pytest
import torch
from skimage.metrics import structural_similarity

from course_lib.data.paired import edges_to_faces, labelled_edges_to_faces
from course_lib.evaluation.translation_scores import (
    DRAWN_ATTRIBUTES,
    per_image_l1,
    seed_difference,
    translation_scores,
)


def test_per_image_l1_is_the_mean_absolute_error_of_each_image():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.zeros(2, 3, 4, 4)
    b[0] = 0.5  # every pixel of image 0 off by 0.5
    b[1, 0, 0, 0] = 0.96  # one of 48 pixels of image 1 off by 0.96
    torch.testing.assert_close(per_image_l1(a, b), torch.tensor([0.5, 0.02]))
    with pytest.raises(ValueError, match="same shape"):
        per_image_l1(a, b[:, :1])


class _ReadsGlassesFromRedChannel:
    """A stand-in judge: 'glasses' = mean red > 0.5; every other attribute read as label 0."""

    def predict(self, images):
        n = len(images)
        labels = {name: torch.zeros(n, dtype=torch.long) for name in DRAWN_ATTRIBUTES}
        labels["glasses"] = (images[:, 0].mean((1, 2)) > 0.5).long()
        return labels


def test_translation_scores_match_skimage_ssim_and_count_attributes_read_correctly():
    generator = torch.Generator().manual_seed(0)
    targets = torch.rand(3, 3, 16, 16, generator=generator)
    outputs = (targets + 0.2 * torch.randn(3, 3, 16, 16, generator=generator)).clamp(0, 1)
    outputs[0, 0] = 1.0  # reads as glasses
    outputs[1:, 0] = 0.0  # read as no glasses
    attributes = {name: torch.zeros(3, dtype=torch.long) for name in DRAWN_ATTRIBUTES}
    attributes["glasses"] = torch.tensor([1, 1, 0])  # drawn with glasses: 0 and 1
    scores = translation_scores(_ReadsGlassesFromRedChannel(), outputs, targets, attributes)
    reference = [
        structural_similarity(
            o.double().numpy(),
            t.double().numpy(),
            channel_axis=0,
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for o, t in zip(outputs, targets)
    ]
    torch.testing.assert_close(
        scores["ssim"], torch.tensor(reference, dtype=torch.float64), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        scores["l1"], (outputs - targets).abs().double().mean((1, 2, 3)), atol=1e-7, rtol=0
    )
    torch.testing.assert_close(
        scores["glasses"], torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    )
    # Three of the four drawn attributes are always right here; glasses decide the fourth.
    torch.testing.assert_close(scores["drawn"], torch.tensor([1.0, 0.75, 1.0], dtype=torch.float64))


def test_seed_difference_is_the_paired_student_t_interval():
    a, b = [0.70, 0.74, 0.69], [0.60, 0.61, 0.62]
    interval = seed_difference(a, b)
    d = torch.tensor(a, dtype=torch.float64) - torch.tensor(b, dtype=torch.float64)
    # t_{0.975, 2} = 4.302652729911275 (tables); s / sqrt(3) by hand.
    half = 4.302652729911275 * d.std(correction=1).item() / math.sqrt(3)
    assert interval.estimate == pytest.approx(d.mean().item())
    assert (interval.low, interval.high) == pytest.approx(
        (d.mean().item() - half, d.mean().item() + half)
    )
    assert interval.verdict == "higher"
    assert seed_difference([0.5, 0.7, 0.6], [0.6, 0.5, 0.65]).verdict == "tie"
    with pytest.raises(ValueError, match="at least 2"):
        seed_difference([0.5], [0.4])


def test_labelled_pairs_are_the_unlabelled_pairs_with_their_attributes():
    edges, faces, attributes = labelled_edges_to_faces(6, size=32, seed=3)
    plain_edges, plain_faces = edges_to_faces(6, size=32, seed=3)
    assert torch.equal(edges, plain_edges) and torch.equal(faces, plain_faces)
    assert set(DRAWN_ATTRIBUTES) <= set(attributes)
    assert all(
        labels.shape == (6,) and labels.dtype == torch.long for labels in attributes.values()
    )
