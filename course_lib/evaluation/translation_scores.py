"""Per-image scores of an image translation (edges -> faces), and verdicts over training seeds.

pix2pix's paper judged its label -> photo translations with an "FCN-score": a pretrained
segmenter applied to the outputs, compared with the labels the input drew. The analogue here is
the frozen attribute judge (``course_lib.evaluation.attribute_judge``) applied to translated
faces: does the output show the glasses, the expression, the face shape and hair style that the
edge map draws? The judge applied to the target faces themselves gives the ceiling. Beside it,
pixel faithfulness: L1 and SSIM to the target.

Every score is per image, so that ``course_lib.evaluation.intervals`` can bootstrap over the
held-out faces; ``seed_difference`` turns per-seed means into a t interval over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from scipy import stats

from course_lib.evaluation.attribute_judge import Judge
from course_lib.evaluation.image_quality import ssim
from course_lib.evaluation.intervals import Interval

# Attributes an edge map shows (outlines of glasses, mouth, face and hair) and those it cannot
# (colours: the drawing is colour-blind, so a translation can only guess them).
DRAWN_ATTRIBUTES = ("glasses", "expression", "face_shape", "hair_style")
COLOUR_ATTRIBUTES = ("hair_colour", "skin_tone")


def per_image_l1(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image, (N, C, H, W) twice in [0, 1] -> (N,)."""
    if outputs.shape != targets.shape:
        raise ValueError(
            f"outputs and targets must have the same shape, got {tuple(outputs.shape)} and "
            f"{tuple(targets.shape)}."
        )
    return (outputs - targets).abs().flatten(1).mean(1)


def judged_correct(
    judge: Judge, images: torch.Tensor, attributes: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Per attribute in ``attributes``: 1.0 where the judge reads the true label, else 0.0, (N,)."""
    predicted = judge.predict(images)
    return {name: (predicted[name] == labels).double() for name, labels in attributes.items()}


def translation_scores(
    judge: Judge,
    outputs: torch.Tensor,
    targets: torch.Tensor,
    attributes: Mapping[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Per-image scores (N,) of translations ``outputs`` against ``targets`` (both in [0, 1]).

    ``l1`` and ``ssim`` to the target; one entry per attribute (the judge reads the label the
    face was drawn with, 1 or 0); ``drawn``: the share of ``DRAWN_ATTRIBUTES`` read correctly.
    """
    correct = judged_correct(judge, outputs, attributes)
    drawn = torch.stack([correct[name] for name in DRAWN_ATTRIBUTES]).mean(0)
    return {
        "l1": per_image_l1(outputs, targets).double(),
        "ssim": ssim(outputs, targets).double(),
        **correct,
        "drawn": drawn,
    }


def seed_difference(
    a_per_seed: Sequence[float], b_per_seed: Sequence[float], level: float = 0.95
) -> Interval:
    """Mean of a - b over paired training seeds with a Student-t ``level`` interval.

    Seed i of a and of b share their initial weights and data order, so the differences are
    paired. With n seeds the half-width is t_{n-1} * s / sqrt(n) (s with n - 1): 4.30 standard
    errors for 3 seeds at 95 %, which is what so few seeds can support.
    """
    a = torch.as_tensor(a_per_seed, dtype=torch.float64)
    b = torch.as_tensor(b_per_seed, dtype=torch.float64)
    if a.shape != b.shape or a.dim() != 1 or len(a) < 2:
        raise ValueError(
            "seed_difference needs two equally long lists of at least 2 per-seed results, got "
            f"{len(a_per_seed)} and {len(b_per_seed)}."
        )
    differences = a - b
    mean = differences.mean().item()
    half = stats.t.ppf(0.5 + level / 2, len(a) - 1) * differences.std(correction=1).item()
    half /= math.sqrt(len(a))
    return Interval(mean, mean - half, mean + half, level)
