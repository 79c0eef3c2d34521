"""Per-epoch monitors: functions the training loops call after every epoch (``epoch_metrics``).

Each ``*_monitor`` builds a ``measure(objective) -> {name: value}`` closure over fixed evaluation
data and a judge, so a notebook and a checkpoint trained by ``python -m course_lib.recipes`` record
the same curves.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.data.face_domains import (
    DomainFaces,
    condition_attributes,
)
from course_lib.data.mnist_m import DigitDomains
from course_lib.evaluation.attribute_judge import Judge
from course_lib.evaluation.digit_judge import DigitJudge
from course_lib.evaluation.sample_quality import classifier_frechet_distance
from course_lib.losses.adversarial import wasserstein_estimate
from course_lib.objectives.cyclegan import CycleGAN
from course_lib.objectives.gan import sample_latent
from course_lib.objectives.stargan import StarGAN
from course_lib.objectives.wgan import WassersteinGAN


def frechet_and_critic_monitor(
    judge: DigitJudge,
    held_out: torch.Tensor,
    latent_dim: int,
    device: torch.device | str,
    seed: int = 3,
) -> Callable[[WassersteinGAN], dict[str, float]]:
    """Per-epoch measurements for a WGAN on MNIST (``train_gan``'s ``epoch_metrics``).

    From ``len(held_out)`` samples of fixed codes (seeded by ``seed``): the digit-classifier Frechet
    distance to ``held_out`` (images in [0, 1]) and the critic's Wasserstein estimate between
    ``held_out`` and the samples. Notebook 07 and ``python -m course_lib.recipes wgan-gp`` both
    use it, so a loaded checkpoint carries the same curves as a run in the notebook.
    """
    # The critic sees [-1, 1], like the generator's outputs.
    held_out_scaled = (held_out * 2 - 1).to(device)

    def measure(objective: WassersteinGAN) -> dict[str, float]:
        with torch.no_grad():
            z = sample_latent(len(held_out), latent_dim, torch.Generator().manual_seed(seed)).to(
                device
            )
            samples = objective.sample(z)
            w_estimate = wasserstein_estimate(
                objective.critic(held_out_scaled), objective.critic(samples)
            ).item()
        return {
            "frechet_distance": classifier_frechet_distance(
                judge, ((samples + 1) / 2).clamp(0, 1), held_out
            ),
            "critic_w1": w_estimate,
        }

    return measure


def digit_class_monitor(
    judge: DigitJudge, held_out: DigitDomains, device: torch.device | str
) -> Callable[[CycleGAN], dict[str, float]]:
    """Per-epoch measurements of an MNIST <-> MNIST-M CycleGAN (``train_cyclegan``'s
    ``epoch_metrics``).

    On the held-out domains: how often the digit judge reads a B -> A translation as the digit it
    came from (``class_kept_ba``), the same for a round trip A -> B -> A (``class_kept_cycle``),
    and that round trip's mean absolute error (``cycle_l1``). Notebook 09 and
    ``python -m course_lib.recipes cyclegan`` both use it, so a loaded checkpoint carries the
    notebook's curves.
    """

    def measure(objective: CycleGAN) -> dict[str, float]:
        with torch.no_grad():
            back = (
                ((objective.translate_ba(held_out.mnist_m.to(device) * 2 - 1) + 1) / 2)
                .clamp(0, 1)
                .cpu()
            )
            there = objective.translate_ab(held_out.mnist.to(device) * 2 - 1)
            cycled = ((objective.translate_ba(there) + 1) / 2).clamp(0, 1).cpu()
        return {
            "class_kept_ba": judge.accuracy_on(back, held_out.mnist_m_labels),
            "class_kept_cycle": judge.accuracy_on(cycled, held_out.mnist_labels),
            "cycle_l1": (cycled - held_out.mnist).abs().mean().item(),
        }

    return measure


def attribute_monitor(
    judge: Judge, test_faces: DomainFaces, targets: torch.Tensor, device: torch.device | str
) -> Callable[[StarGAN], dict[str, float]]:
    """Per-epoch measurements of StarGAN on held-out faces (``train_stargan``'s ``epoch_metrics``).

    Each face is translated to its condition in ``targets`` (N, 13); for every attribute, the
    share of asked-for values the attribute judge reads in the translation
    (``<attribute>_accuracy``, counting only faces whose data set has that label), and the mean
    absolute error of translating back to the face's own condition (``reconstruction_l1``).
    Notebook 09 and ``python -m course_lib.recipes stargan`` both use it.
    """
    images = test_faces.images.to(device) * 2 - 1  # [0, 1] -> [-1, 1], the generator's range

    def measure(objective: StarGAN) -> dict[str, float]:
        with torch.no_grad():
            translated = objective.translate(images, targets.to(device))
            back = objective.translate(translated, test_faces.condition.to(device))
        predicted = judge.predict(((translated + 1) / 2).clamp(0, 1).cpu())
        scores = {}
        for name, wanted in condition_attributes(targets).items():
            asked = wanted >= 0  # -1: the example's data set has no such label
            scores[f"{name}_accuracy"] = (
                (predicted[name][asked] == wanted[asked]).float().mean().item()
            )
        scores["reconstruction_l1"] = (
            (((back + 1) / 2).clamp(0, 1).cpu() - test_faces.images).abs().mean().item()
        )
        return scores

    return measure
