"""Measures for the face VAEs of notebook 03, each with its uncertainty.

- ``judge_features`` and ``judge_frechet_distance``: a Frechet distance (the statistic of FID,
  Heusel et al. 2017) in the feature space of the frozen attribute judge
  (``course_lib.evaluation.attribute_judge``), not Inception-v3, so its values mean something
  only beside each other and beside the distance between two real sets of the same size.
- ``frechet_interval``: that distance with a normal interval from a bootstrap over both sets.
- ``direction_separation``: how far apart two groups of latent codes lie along the direction
  that joins their means, in pooled standard deviations (the d' of signal detection).

Bootstrap intervals of means and of paired differences live in ``course_lib.evaluation.intervals``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.evaluation.attribute_judge import Judge
from course_lib.evaluation.intervals import Interval
from course_lib.evaluation.sample_quality import frechet_distance


@torch.no_grad()
def judge_features(judge: Judge, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The judge's pooled trunk features (N, F) on the CPU for faces (N, 3, size, size).

    The faces are area-downsampled to the judge's working size first, as ``Judge.predict``
    does, so these are the features its attribute heads read.
    """
    if images.dim() != 4 or tuple(images.shape[1:]) != (3, judge.size, judge.size):
        raise ValueError(
            f"This judge expects faces of shape (N, 3, {judge.size}, {judge.size}), "
            f"got {tuple(images.shape)}."
        )
    device = next(judge.model.parameters()).device
    parts = []
    for batch in images.split(batch_size):
        small = F.interpolate(batch.to(device, torch.float32), size=judge.model.size, mode="area")
        parts.append(judge.model.features(small).cpu())
    return torch.cat(parts)


def judge_frechet_distance(judge: Judge, images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Frechet distance between the judge's features of two face sets; lower is more alike."""
    return frechet_distance(judge_features(judge, images_a), judge_features(judge, images_b))


def frechet_interval(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """``frechet_distance`` of two feature sets with a normal bootstrap ``level`` interval.

    Each resample redraws both sets with replacement. Repeated rows make a resampled set less
    varied than the original, so the resampled distances sit above the estimate (for two real
    sets of 1,000 faces, about twice as high): percentile intervals would not even contain the
    estimate. The spread of the resampled distances is still a fair measure of the estimate's
    sampling noise, so the interval is the estimate plus or minus z standard deviations of them.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}.")
    a = torch.as_tensor(features_a).detach().to("cpu", torch.float64)
    b = torch.as_tensor(features_b).detach().to("cpu", torch.float64)
    generator = torch.Generator().manual_seed(seed)
    distances = torch.tensor(
        [
            frechet_distance(
                a[torch.randint(len(a), (len(a),), generator=generator)],
                b[torch.randint(len(b), (len(b),), generator=generator)],
            )
            for _ in range(resamples)
        ],
        dtype=torch.float64,
    )
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor((1 + level) / 2)).item()
    estimate, spread = frechet_distance(a, b), z * distances.std().item()
    return Interval(estimate, estimate - spread, estimate + spread, level)


def direction_separation(codes_with: torch.Tensor, codes_without: torch.Tensor) -> float:
    """Separation of two groups of codes (N1, d) and (N2, d) along the line joining their means.

    Both groups are projected onto the unit vector of mean(with) - mean(without); the result is
    the difference of the projected means over their pooled standard deviation. About 0: the
    codes do not tell the groups apart along that direction; above 2: they barely overlap.
    """
    with_ = torch.as_tensor(codes_with).detach().to("cpu", torch.float64)
    without = torch.as_tensor(codes_without).detach().to("cpu", torch.float64)
    if with_.dim() != 2 or without.dim() != 2 or with_.shape[1] != without.shape[1]:
        raise ValueError(
            f"Expected codes (N1, d) and (N2, d), got {tuple(with_.shape)} and "
            f"{tuple(without.shape)}."
        )
    if len(with_) < 2 or len(without) < 2:
        raise ValueError("Each group needs at least 2 codes.")
    gap = with_.mean(0) - without.mean(0)
    unit = gap / gap.norm()
    projected_with, projected_without = with_ @ unit, without @ unit
    pooled = (
        ((len(with_) - 1) * projected_with.var() + (len(without) - 1) * projected_without.var())
        / (len(with_) + len(without) - 2)
    ).sqrt()
    return ((projected_with.mean() - projected_without.mean()) / pooled).item()
