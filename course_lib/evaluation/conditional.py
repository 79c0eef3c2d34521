"""Conditional GANs judged by a classifier: does G(z, y) show class y? (``conditional_accuracy``),
and the label-by-sample grid of images that notebook 08 shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib.objectives.gan import sample_latent


@dataclass(frozen=True)
class ConditionalAccuracy:
    """``per_class[c]``: the share of images generated for label c that the judge reads as c;
    ``overall``: their mean (the classes are equally represented)."""

    per_class: list[float]
    overall: float


@torch.no_grad()
def _generate(
    generator: nn.Module, z: torch.Tensor, labels: torch.Tensor, device: torch.device | str
) -> torch.Tensor:
    """G(z, labels) in eval mode on ``device``, mapped from (-1, 1) to [0, 1], on the CPU."""
    was_training = generator.training
    generator.eval()
    try:
        images = generator(z.to(device), labels.to(device))
    finally:
        generator.train(was_training)
    return (
        ((images + 1) / 2).clamp(0, 1).cpu()
    )  # clamp: tanh rounding must not fail the judge's range check


def conditional_accuracy(
    judge,
    generator: nn.Module,
    latent_dim: int,
    n_per_class: int = 100,
    device: torch.device | str = "cpu",
    generator_rng: torch.Generator | None = None,
) -> ConditionalAccuracy:
    """How often a frozen classifier agrees with the label the generator was asked for.

    acc_c = (1 / n) sum_i [judge(G(z_i, c)) = c] for n = ``n_per_class`` codes z_i ~ N(0, I) per
    class c; ``overall`` is the mean of acc_c. A generator that ignores its label scores about
    1 / n_classes (10% for digits). ``judge`` is a ``course_lib.evaluation.digit_judge.DigitJudge``
    (anything with ``predict(images in [0, 1]) -> labels``); the generator's outputs are taken to
    lie in (-1, 1) and mapped to [0, 1] first. ``generator_rng`` fixes the codes.
    """
    n_classes = generator.n_classes
    labels = torch.arange(n_classes).repeat_interleave(
        n_per_class
    )  # (n_classes * n,): 0, 0, ..., 1, 1, ...
    z = sample_latent(len(labels), latent_dim, generator_rng)
    predicted = judge.predict(_generate(generator, z, labels, device))
    hits = (predicted.cpu() == labels).float().view(n_classes, n_per_class)
    per_class = hits.mean(dim=1)
    return ConditionalAccuracy(per_class.tolist(), per_class.mean().item())


def label_grid(
    generator: nn.Module,
    latent_dim: int,
    n_per_class: int = 8,
    device: torch.device | str = "cpu",
    generator_rng: torch.Generator | None = None,
) -> torch.Tensor:
    """A label-by-sample grid: images (n_classes * n_per_class, C, H, W) in [0, 1], row c class c.

    Column j uses the same code z_j in every row, so a column shows what z carries (style: slant,
    stroke width) and a row what y carries (the class). Show it with
    ``course_lib.viz.figures.show_images(grid, nrow=n_per_class)``.
    """
    n_classes = generator.n_classes
    z = sample_latent(n_per_class, latent_dim, generator_rng).repeat(
        n_classes, 1
    )  # (n_classes * n, latent_dim)
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    return _generate(generator, z, labels, device)
