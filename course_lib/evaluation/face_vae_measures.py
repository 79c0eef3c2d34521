"""Measures for the face VAEs of notebook 03, each with its uncertainty.

- ``judge_features`` and ``judge_frechet_distance``: a Frechet distance (the statistic of FID,
  Heusel et al. 2017) in the feature space of the frozen attribute judge
  (``course_lib.evaluation.attribute_judge``), not Inception-v3, so its values mean something
  only beside each other and beside the distance between two real sets of the same size.
- ``frechet_interval``: that distance with a normal interval from a bootstrap over both sets.
- ``frechet_comparison``: the distances of several sample sets to one reference set from one
  joint bootstrap, so that the difference of two distances gets its own interval.
- ``direction_separation``: how far apart two groups of latent codes lie along the direction
  that joins their means, in pooled standard deviations (the d' of signal detection).

Bootstrap intervals of means and of paired differences live in ``course_lib.evaluation.intervals``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

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
    return frechet_comparison(features_a, {"b": features_b}, resamples, level, seed).distance("b")


@dataclass(frozen=True)
class FrechetComparison:
    """Distances of named feature sets to one reference set, with their joint bootstrap."""

    names: tuple[str, ...]
    estimates: torch.Tensor  # (k,) the distance of each set to the reference
    replicates: torch.Tensor  # (resamples, k) the same distances on the resampled sets
    level: float

    def _interval(self, estimate: float, replicates: torch.Tensor) -> Interval:
        # normal interval: the resampled distances are biased upwards (see frechet_interval)
        z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor((1 + self.level) / 2)).item()
        spread = z * replicates.std().item()
        return Interval(estimate, estimate - spread, estimate + spread, self.level)

    def distance(self, name: str) -> Interval:
        i = self.names.index(name)
        return self._interval(self.estimates[i].item(), self.replicates[:, i])

    def difference(self, name_a: str, name_b: str) -> Interval:
        """Distance of ``name_a`` minus distance of ``name_b``; its ``verdict`` says which is
        farther from the reference, or 'tie'."""
        i, j = self.names.index(name_a), self.names.index(name_b)
        return self._interval(
            (self.estimates[i] - self.estimates[j]).item(),
            self.replicates[:, i] - self.replicates[:, j],
        )


def frechet_comparison(
    reference: torch.Tensor,
    feature_sets: Mapping[str, torch.Tensor],
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
    bar: Callable[[Iterable[int]], Iterable[int]] = iter,
) -> FrechetComparison:
    """``frechet_distance`` of every set in ``feature_sets`` to ``reference``, bootstrapped jointly.

    Each resample redraws the reference once, shared by all the sets' distances, and every set
    on its own. The distances of two sets share the noise of the reference, so the interval of
    their difference (``FrechetComparison.difference``) is narrower than the two separate
    intervals suggest, and overlapping separate intervals do not make a tie. ``bar`` wraps the
    loop over the resamples, e.g. ``lambda r: progress(r, desc="bootstrap")`` for a progress bar.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}.")
    if resamples < 2 or not feature_sets:
        raise ValueError("Need at least 2 resamples and at least one feature set.")
    ref = torch.as_tensor(reference).detach().to("cpu", torch.float64)
    sets = [torch.as_tensor(f).detach().to("cpu", torch.float64) for f in feature_sets.values()]
    generator = torch.Generator().manual_seed(seed)

    def redrawn(x: torch.Tensor) -> torch.Tensor:
        return x[torch.randint(len(x), (len(x),), generator=generator)]

    replicates = []
    for _ in bar(range(resamples)):
        ref_star = redrawn(ref)
        replicates.append([frechet_distance(ref_star, redrawn(x)) for x in sets])
    return FrechetComparison(
        names=tuple(feature_sets),
        estimates=torch.tensor([frechet_distance(ref, x) for x in sets], dtype=torch.float64),
        replicates=torch.tensor(replicates, dtype=torch.float64),
        level=level,
    )


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
