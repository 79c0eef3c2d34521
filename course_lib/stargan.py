"""StarGAN (Choi et al. 2018): one generator for translations between many domains, with the mask vector.

A single generator G(x, c) turns an image x into the domain of the target condition c. The
discriminator D has two heads: D_src scores real against generated images (a patch map), D_cls
predicts the labels. With the WGAN-GP adversarial term, as in the paper,

    L_adv   = E[D_src(x)] - E[D_src(G(x, c))] - lambda_gp E[(||grad D_src(x_hat)||_2 - 1)^2]
    L_cls^r = E[-log D_cls(c' | x)]            (real images, their own labels c')
    L_cls^f = E[-log D_cls(c | G(x, c))]       (translations, the target labels c)
    L_rec   = E[|x - G(G(x, c), c')|_1]         (translate to c and back to c': x again)

    L_D = -L_adv + lambda_cls L_cls^r,   L_G = L_adv + lambda_cls L_cls^f + lambda_rec L_rec,

with lambda_cls = 1, lambda_rec = 10, lambda_gp = 10 (G only sees the term E[D_src(x)] -
E[D_src(G(x, c))] of L_adv that depends on it). D_src's map is averaged over its patches, and
the penalty's x_hat lies between a real image and its translation (one alpha per example).

Labels follow the layout of ``course_lib.data.face_domains``: two data sets with different
labels and a mask vector m saying which one an example comes from. ``domain_classification_loss``
implements -log D_cls(c | x) as in the paper's code, summed over the attribute groups of the
example's *own* data set only: a softmax cross-entropy for each one-hot group (hair colour:
5-way, expression: 5-way) and a binary cross-entropy for the binary one (glasses). The logits of
the other data set's labels play no part. (CelebA's labels are independent binary attributes, so
the paper uses a binary cross-entropy for each; the groups here are mutually exclusive values,
for which a softmax is the exact likelihood.) The paper alternates minibatches of one data set
or the other; here a minibatch mixes them and each example counts its own labels.

Target conditions are drawn within each example's own data set (uniform values,
``random_target_conditions``); the paper's code shuffles the batch's real labels instead, which
gives the same thing for balanced labels. Images are in [-1, 1] (tanh generator): scale faces
with 2 x - 1 before training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.batches import ResidentData
from course_lib.data.face_domains import (GROUPS, N_LABELS, DomainFaces, check_conditions, condition_attributes,
                                          random_target_conditions)
from course_lib.distributed import MethodCalls, Shard, mean_across, wrap
from course_lib.gan_training import _checked, _frozen, _update, generator_steps_per_epoch, seeded_run
from course_lib.judges import Judge
from course_lib.training import _measure, progress
from course_lib.wgan import critic_loss, gradient_penalty, wasserstein_generator_loss


def domain_classification_loss(logits: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """Mean over examples of -log D_cls(labels | x), counting only the labels of the example's own data set.

    ``logits`` (B, 11) are D_cls's outputs, ``condition`` (B, 13) the labels with their mask. For
    an example of data set d the loss is the sum, over the attribute groups that d labels, of
    -log softmax(logits[group])[label] for a one-hot group and
    -[y log sigmoid(l) + (1 - y) log(1 - sigmoid(l))] for a binary one; the other data set's
    logits do not enter (nor get gradients).
    """
    if logits.dim() != 2 or logits.shape[1] != N_LABELS:
        raise ValueError(
            f"The classifier's logits must have shape (B, {N_LABELS}), one per label (not the mask), got "
            f"{tuple(logits.shape)}."
        )
    dataset = check_conditions(condition)  # (B,)
    if len(dataset) != len(logits):
        raise ValueError(f"Got {len(logits)} rows of logits and {len(dataset)} conditions; give one per example.")
    condition = condition.to(logits)
    per_example = torch.zeros(len(logits), device=logits.device, dtype=logits.dtype)
    for group in GROUPS:
        group_logits, targets = logits[:, group.columns], condition[:, group.columns]
        if group.binary:
            term = F.binary_cross_entropy_with_logits(group_logits, targets, reduction="none").sum(dim=1)
        else:
            term = F.cross_entropy(group_logits, targets.argmax(dim=1), reduction="none")
        per_example = per_example + torch.where(dataset == group.dataset, term, 0.0)  # (B,)
    return per_example.mean()


def reconstruction_loss(images: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """mean |x - G(G(x, c), c')|: the L1 distance, averaged over all entries as in the paper's code."""
    if images.shape != reconstructions.shape:
        raise ValueError(
            f"images and reconstructions must have the same shape, got {tuple(images.shape)} and "
            f"{tuple(reconstructions.shape)}."
        )
    return (images - reconstructions).abs().mean()


class _SourceScores(nn.Module):
    """D_src averaged over its patches: one critic score (B,) per image, as ``gradient_penalty`` needs."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        src, _ = self.discriminator(x)
        return src.flatten(1).mean(dim=1)


class StarGAN(nn.Module):
    """The StarGAN objective: a generator G(x, c) and a discriminator D(x) -> (src map, class logits).

    Both loss methods take real images (B, C, S, S) in [-1, 1] and their conditions (B, 13);
    ``target`` (B, 13) fixes the target conditions, which are otherwise drawn within each
    example's data set from torch's global random stream (``train_stargan`` seeds it).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        cls_weight: float = 1.0,
        rec_weight: float = 10.0,
        gp_weight: float = 10.0,
    ):
        super().__init__()
        if min(cls_weight, rec_weight, gp_weight) < 0:
            raise ValueError(
                "cls_weight, rec_weight and gp_weight must be non-negative, got "
                f"{cls_weight}, {rec_weight} and {gp_weight}."
            )
        self.generator = generator
        self.discriminator = discriminator
        self.cls_weight, self.rec_weight, self.gp_weight = cls_weight, rec_weight, gp_weight

    def targets(self, condition: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """``target`` checked against ``condition``'s batch, or random targets within each example's data set."""
        dataset = check_conditions(condition)
        if target is None:
            return random_target_conditions(dataset).to(condition)
        check_conditions(target)
        if target.shape != condition.shape:
            raise ValueError(f"Got {len(condition)} conditions and {len(target)} targets; give one target per image.")
        return target

    def discriminator_losses(
        self, real: torch.Tensor, condition: torch.Tensor, target: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """D's terms: ``critic`` (mean D_src(G(x, c)) - mean D_src(x)), ``penalty`` (the gradient penalty,
        unweighted), ``classification`` (L_cls^r on the real images) and ``total`` = L_D."""
        target = self.targets(condition, target)
        with torch.no_grad():  # the discriminator step updates D only
            fake = self.generator(real, target)
        real_src, real_cls = self.discriminator(real)
        fake_src, _ = self.discriminator(fake)
        critic = critic_loss(real_src, fake_src)  # means over examples and patches
        penalty = gradient_penalty(_SourceScores(self.discriminator), real, fake)  # alpha from the global stream
        classification = domain_classification_loss(real_cls, condition)
        total = critic + self.gp_weight * penalty + self.cls_weight * classification
        return {"critic": critic, "penalty": penalty, "classification": classification, "total": total}

    def discriminator_loss(
        self, real: torch.Tensor, condition: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """L_D = -L_adv + lambda_cls L_cls^r, the scalar D minimises."""
        return self.discriminator_losses(real, condition, target)["total"]

    def generator_losses(
        self, real: torch.Tensor, condition: torch.Tensor, target: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """G's terms: ``adversarial`` (-mean D_src(G(x, c))), ``classification`` (L_cls^f, the target labels
        on the translations), ``reconstruction`` (L_rec) and ``total`` = L_G."""
        target = self.targets(condition, target)
        fake = self.generator(real, target)
        fake_src, fake_cls = self.discriminator(fake)
        adversarial = wasserstein_generator_loss(fake_src)
        classification = domain_classification_loss(fake_cls, target)
        reconstruction = reconstruction_loss(real, self.generator(fake, condition))  # back to the own labels
        total = adversarial + self.cls_weight * classification + self.rec_weight * reconstruction
        return {
            "adversarial": adversarial,
            "classification": classification,
            "reconstruction": reconstruction,
            "total": total,
        }

    def translate(self, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """G(x, c): ``images`` (B, C, S, S) in [-1, 1] translated to the conditions ``target`` (B, 13)."""
        return self.generator(images, target)


@dataclass
class StarGANHistory:
    """What ``train_stargan`` recorded, one entry per generator step.

    The discriminator's entries are means over that step's ``d_steps`` discriminator steps:
    ``d_loss`` (L_D), ``wasserstein`` (mean D_src(x) - mean D_src(G(x, c)), the critic's distance
    estimate), ``penalty`` and ``d_classification`` (L_cls^r). The generator's: ``g_loss`` (L_G),
    ``g_adversarial``, ``g_classification`` (L_cls^f) and ``reconstruction`` (L_rec).
    ``epoch_d_loss`` and ``epoch_g_loss`` are per-epoch means, ``metrics`` the per-epoch
    measurements and ``seconds`` the training time without them.
    """

    steps_per_epoch: int
    d_loss: list[float] = field(default_factory=list)
    wasserstein: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    d_classification: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    g_adversarial: list[float] = field(default_factory=list)
    g_classification: list[float] = field(default_factory=list)
    reconstruction: list[float] = field(default_factory=list)
    epoch_d_loss: list[float] = field(default_factory=list)
    epoch_g_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0


def train_stargan(
    objective: StarGAN,
    images: torch.Tensor,
    conditions: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    g_optimizer: torch.optim.Optimizer,
    d_optimizer: torch.optim.Optimizer,
    d_steps: int = 5,
    seed: int = 0,
    device: torch.device | str = "cpu",
    epoch_metrics: Callable[[StarGAN], dict[str, float]] | None = None,
    desc: str = "StarGAN",
    shard: Shard | None = None,
) -> StarGANHistory:
    """Train StarGAN's two players on ``images`` (N, C, S, S) in [-1, 1] with their ``conditions`` (N, 13).

    Each generator step follows ``d_steps`` discriminator steps (the paper: 5), each on its own
    minibatch; the generator step reuses the last one. An epoch is one pass over a new random
    order of the data in full minibatches, so it has (N // batch_size) // d_steps generator
    steps. The paper's optimisers: Adam with learning rate 1e-4 and betas (0.5, 0.999) for both.

    Everything random follows from ``seed``: the data order and torch's global stream (the
    target conditions and the penalty's interpolation weights, drawn on the CPU, so the same on
    every device), which is seeded for the run and restored afterwards. A NaN or infinite loss
    raises ``NonFiniteLossError`` before its step is applied. Under torchrun (``shard``) each
    process trains on its part of every minibatch, as in ``gan_training.train_gan``.
    """
    shard = shard or Shard()
    shard.check_divides(batch_size)
    data = ResidentData((images, conditions), device, shard)
    check_conditions(data.tensors[1])
    steps_per_epoch = generator_steps_per_epoch(len(data), batch_size, d_steps)
    history = StarGANHistory(steps_per_epoch)
    objective.to(device).train()
    steps = wrap(MethodCalls(objective), shard, device, find_unused=True)
    with seeded_run(seed, device, rank=shard.rank) as (data_rng,):
        for epoch in progress(range(epochs), shard, desc=desc, unit="epoch"):
            began = time.perf_counter()
            batches = iter(data.full_batches(data_rng, batch_size))  # rows of batch_size indices
            for step in range(steps_per_epoch):
                d_terms: dict[str, float] = {}
                for _ in range(d_steps):
                    x, c = data.rows(next(batches))
                    losses = steps("discriminator_losses", x, c)
                    _checked(losses["total"], "discriminator", epoch, step)
                    _update(d_optimizer, losses["total"])
                    for name, value in losses.items():
                        d_terms[name] = d_terms.get(name, 0.0) + value.item() / d_steps
                with _frozen(objective.discriminator.parameters()):  # G's step needs no gradients for D
                    losses = steps("generator_losses", x, c)
                    g_value = _checked(losses["total"], "generator", epoch, step)
                    _update(g_optimizer, losses["total"])
                recorded = mean_across([d_terms["total"], -d_terms["critic"], d_terms["penalty"],
                                        d_terms["classification"], g_value, losses["adversarial"].item(),
                                        losses["classification"].item(), losses["reconstruction"].item()], shard)
                for name, value in zip(("d_loss", "wasserstein", "penalty", "d_classification", "g_loss",
                                        "g_adversarial", "g_classification", "reconstruction"), recorded):
                    getattr(history, name).append(value)
            history.seconds += time.perf_counter() - began
            history.epoch_d_loss.append(sum(history.d_loss[-steps_per_epoch:]) / steps_per_epoch)
            history.epoch_g_loss.append(sum(history.g_loss[-steps_per_epoch:]) / steps_per_epoch)
            if epoch_metrics is not None and shard.is_main:
                for name, value in _measure(objective, epoch_metrics).items():
                    history.metrics.setdefault(name, []).append(value)
    return history


def attribute_monitor(
    judge: Judge, test_faces: DomainFaces, targets: torch.Tensor, device: torch.device | str
) -> Callable[[StarGAN], dict[str, float]]:
    """Per-epoch measurements of StarGAN on held-out faces (``train_stargan``'s ``epoch_metrics``).

    Each face is translated to its condition in ``targets`` (N, 13); for every attribute, the
    share of asked-for values the attribute judge reads in the translation
    (``<attribute>_accuracy``, counting only faces whose data set has that label), and the mean
    absolute error of translating back to the face's own condition (``reconstruction_l1``).
    Notebook 09 and ``python -m course_lib.train stargan`` both use it.
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
            scores[f"{name}_accuracy"] = (predicted[name][asked] == wanted[asked]).float().mean().item()
        scores["reconstruction_l1"] = (((back + 1) / 2).clamp(0, 1).cpu() - test_faces.images).abs().mean().item()
        return scores

    return measure
