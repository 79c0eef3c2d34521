"""The image-to-image translation loops: pix2pix (paired data), CycleGAN (two unpaired domains)
and StarGAN (one generator for many domains), each alternating discriminator and generator steps
with the pieces of ``course_lib.training.steps``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from course_lib.data.face_conditions import check_conditions
from course_lib.objectives.cyclegan import CycleGAN, ImagePool
from course_lib.objectives.pix2pix import Pix2Pix
from course_lib.objectives.stargan import StarGAN
from course_lib.runtime.distributed import MethodCalls, Shard, mean_across, wrap
from course_lib.training.adversarial import generator_steps_per_epoch
from course_lib.training.batches import ResidentData
from course_lib.training.steps import (
    checked_loss,
    frozen,
    measure,
    progress,
    seeded_run,
    update,
)

GENERATOR_TERMS = ("adversarial_ab", "adversarial_ba", "cycle_a", "cycle_b", "identity")


@dataclass
class CycleGANHistory:
    """What ``train_cyclegan`` recorded: per step the discriminators' summed loss ``d_loss``, the
    generators' ``g_loss`` (the total they minimise) and each of its terms; ``epoch_d_loss`` and
    ``epoch_g_loss`` their per-epoch means (``epoch_means`` gives them for any per-step list);
    ``metrics`` the per-epoch measurements; ``seconds`` the training time without them."""

    steps_per_epoch: int
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    adversarial_ab: list[float] = field(default_factory=list)
    adversarial_ba: list[float] = field(default_factory=list)
    cycle_a: list[float] = field(default_factory=list)
    cycle_b: list[float] = field(default_factory=list)
    identity: list[float] = field(default_factory=list)
    epoch_d_loss: list[float] = field(default_factory=list)
    epoch_g_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def epoch_means(self, name: str) -> list[float]:
        """Per-epoch means of the per-step list ``name`` (for example ``"cycle_a"``)."""
        values, steps = getattr(self, name), self.steps_per_epoch
        return [
            sum(values[i : i + steps]) / steps for i in range(0, len(values) - steps + 1, steps)
        ]


def train_cyclegan(
    objective: CycleGAN,
    domain_a: torch.Tensor,
    domain_b: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    g_optimizer: torch.optim.Optimizer,
    d_optimizer: torch.optim.Optimizer,
    seed: int = 0,
    device: torch.device | str = "cpu",
    pool_size: int = 50,
    epoch_metrics: Callable[[CycleGAN], dict[str, float]] | None = None,
    desc: str = "CycleGAN",
    shard: Shard | None = None,
) -> CycleGANHistory:
    """Train both generators and both discriminators on unpaired images and return the history.

    ``domain_a`` (N_A, C_A, H, W) and ``domain_b`` (N_B, C_B, H, W), in the generators' output
    range, are drawn independently: each epoch puts each domain in its own new random order and
    takes min(N_A, N_B) // batch_size steps, each with the next ``batch_size`` images of A and
    of B (full minibatches only). Every step is, as in the paper's code, one update of both
    generators (``g_optimizer``, over ``objective.generator_parameters()``), then one of both
    discriminators (``d_optimizer``, over ``objective.discriminator_parameters()``) on the real
    minibatches and the step's translations passed through one ``ImagePool(pool_size)`` per
    domain (``pool_size=0``: the latest translations only). ``epoch_metrics(objective)`` runs
    after every epoch, in eval mode without gradients.

    The data orders, the pools' choices and torch's global stream follow from ``seed``; the
    global stream is restored afterwards. A NaN or infinite loss raises ``NonFiniteLossError``
    before its step is applied. Under torchrun (``shard``) each process trains on its part of
    every minibatch (and keeps its own image pools), as in ``gan_training.train_gan``.
    """
    shard = shard or Shard()
    for name, images in (("domain_a", domain_a), ("domain_b", domain_b)):
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            shape = (
                tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            )
            raise ValueError(f"{name} must be a tensor of images (N, C, H, W), got {shape}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    steps_per_epoch = min(len(domain_a), len(domain_b)) // batch_size
    if steps_per_epoch == 0:
        raise ValueError(
            f"The smaller domain has {min(len(domain_a), len(domain_b))} images, not enough for one minibatch of "
            f"{batch_size}; lower batch_size."
        )
    shard.check_divides(batch_size)
    history = CycleGANHistory(steps_per_epoch)
    images_a, images_b = (
        ResidentData(domain_a, device, shard),
        ResidentData(domain_b, device, shard),
    )
    objective.to(device).train()
    steps = wrap(MethodCalls(objective), shard, device, find_unused=True)
    with seeded_run(seed, device, streams=4, rank=shard.rank) as (
        rng_a,
        rng_b,
        pool_rng_a,
        pool_rng_b,
    ):
        pool_a, pool_b = (
            ImagePool(pool_size, seed=rng.initial_seed()) for rng in (pool_rng_a, pool_rng_b)
        )
        bar = progress(range(epochs), shard, desc=desc, unit="epoch")
        for epoch in bar:
            began = time.perf_counter()
            order_a = images_a.full_batches(rng_a, batch_size)[
                :steps_per_epoch
            ]  # (steps, batch_size) indices
            order_b = images_b.full_batches(rng_b, batch_size)[:steps_per_epoch]
            for step, (index_a, index_b) in enumerate(zip(order_a, order_b)):
                (real_a,), (real_b,) = images_a.rows(index_a), images_b.rows(index_b)
                with frozen(
                    objective.discriminator_parameters()
                ):  # G's step needs no gradients for D
                    losses = steps("generator_losses", real_a, real_b)
                    g_value = checked_loss(losses["total"], "generator", epoch, step)
                    update(g_optimizer, losses["total"])
                fake_a, fake_b = pool_a.query(losses["fake_a"]), pool_b.query(losses["fake_b"])
                loss = steps("discriminator_loss", real_a, real_b, fake_a, fake_b)
                d_value = checked_loss(loss, "discriminator", epoch, step)
                update(d_optimizer, loss)
                recorded = mean_across(
                    [g_value, d_value, *(losses[term].item() for term in GENERATOR_TERMS)], shard
                )
                history.g_loss.append(recorded[0])
                history.d_loss.append(recorded[1])
                for term, value in zip(GENERATOR_TERMS, recorded[2:]):
                    getattr(history, term).append(value)
            history.seconds += time.perf_counter() - began
            history.epoch_d_loss.append(sum(history.d_loss[-steps_per_epoch:]) / steps_per_epoch)
            history.epoch_g_loss.append(sum(history.g_loss[-steps_per_epoch:]) / steps_per_epoch)
            bar.set_postfix(
                d_loss=f"{history.epoch_d_loss[-1]:.3f}", g_loss=f"{history.epoch_g_loss[-1]:.3f}"
            )
            if epoch_metrics is not None and shard.is_main:
                for name, value in measure(objective, epoch_metrics).items():
                    history.metrics.setdefault(name, []).append(value)
    return history


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
                    checked_loss(losses["total"], "discriminator", epoch, step)
                    update(d_optimizer, losses["total"])
                    for name, value in losses.items():
                        d_terms[name] = d_terms.get(name, 0.0) + value.item() / d_steps
                with frozen(
                    objective.discriminator.parameters()
                ):  # G's step needs no gradients for D
                    losses = steps("generator_losses", x, c)
                    g_value = checked_loss(losses["total"], "generator", epoch, step)
                    update(g_optimizer, losses["total"])
                recorded = mean_across(
                    [
                        d_terms["total"],
                        -d_terms["critic"],
                        d_terms["penalty"],
                        d_terms["classification"],
                        g_value,
                        losses["adversarial"].item(),
                        losses["classification"].item(),
                        losses["reconstruction"].item(),
                    ],
                    shard,
                )
                for name, value in zip(
                    (
                        "d_loss",
                        "wasserstein",
                        "penalty",
                        "d_classification",
                        "g_loss",
                        "g_adversarial",
                        "g_classification",
                        "reconstruction",
                    ),
                    recorded,
                ):
                    getattr(history, name).append(value)
            history.seconds += time.perf_counter() - began
            history.epoch_d_loss.append(sum(history.d_loss[-steps_per_epoch:]) / steps_per_epoch)
            history.epoch_g_loss.append(sum(history.g_loss[-steps_per_epoch:]) / steps_per_epoch)
            if epoch_metrics is not None and shard.is_main:
                for name, value in measure(objective, epoch_metrics).items():
                    history.metrics.setdefault(name, []).append(value)
    return history


@dataclass
class Pix2PixHistory:
    """What ``train_pix2pix`` recorded: per step the discriminator loss (empty for L1 only), the
    generator's adversarial term and L1 error, and their per-epoch means; ``metrics`` the
    per-epoch measurements; ``seconds`` the training time without them."""

    steps_per_epoch: int
    d_loss: list[float] = field(default_factory=list)
    g_adversarial: list[float] = field(default_factory=list)
    l1: list[float] = field(default_factory=list)
    epoch_d_loss: list[float] = field(default_factory=list)
    epoch_l1: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0


def train_pix2pix(
    objective: Pix2Pix,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    g_optimizer: torch.optim.Optimizer,
    d_optimizer: torch.optim.Optimizer | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    epoch_metrics: Callable[[Pix2Pix], dict[str, float]] | None = None,
    desc: str = "pix2pix",
    shard: Shard | None = None,
) -> Pix2PixHistory:
    """Alternate one D step and one G step per minibatch of pairs, as in the paper, and return the history.

    ``inputs`` (N, C_in, S, S) and ``targets`` (N, C_out, S, S) are indexed together, in a new
    random order each epoch (full minibatches only). ``d_optimizer`` is needed unless the
    objective is L1 only. The data order and torch's global stream (the decoder's dropout) follow
    from ``seed``; the global stream is restored afterwards. A NaN or infinite loss raises
    ``NonFiniteLossError`` before its step is applied. Under torchrun (``shard``) each process
    trains on its part of every minibatch, as in ``gan_training.train_gan``.
    """
    shard = shard or Shard()
    shard.check_divides(batch_size)
    pairs = ResidentData((inputs, targets), device, shard)
    if objective.uses_discriminator and d_optimizer is None:
        raise ValueError(
            "This objective trains a discriminator: pass d_optimizer (or set adversarial_weight=0)."
        )
    steps_per_epoch = len(pairs) // batch_size
    if steps_per_epoch == 0:
        raise ValueError(
            f"{len(pairs)} pairs do not fill one minibatch of {batch_size}; lower batch_size."
        )
    history = Pix2PixHistory(steps_per_epoch)
    objective.to(device).train()
    steps = wrap(MethodCalls(objective), shard, device, find_unused=True)
    with seeded_run(seed, device, rank=shard.rank) as (data_rng,):
        for epoch in progress(range(epochs), shard, desc=desc, unit="epoch"):
            began = time.perf_counter()
            for step, index in enumerate(
                pairs.full_batches(data_rng, batch_size)
            ):  # (batch_size,) index rows
                x, y = pairs.rows(index)
                d_value = 0.0
                if objective.uses_discriminator:
                    loss = steps("discriminator_loss", x, y)
                    d_value = checked_loss(loss, "discriminator", epoch, step)
                    update(d_optimizer, loss)
                with frozen(
                    objective.discriminator.parameters()
                ):  # G's step needs no gradients for D
                    losses = steps("generator_losses", x, y)
                    checked_loss(losses["total"], "generator", epoch, step)
                    update(g_optimizer, losses["total"])
                d_value, adversarial, l1 = mean_across(
                    [d_value, losses["adversarial"].item(), losses["l1"].item()], shard
                )
                if objective.uses_discriminator:
                    history.d_loss.append(d_value)
                history.g_adversarial.append(adversarial)
                history.l1.append(l1)
            history.seconds += time.perf_counter() - began
            history.epoch_l1.append(sum(history.l1[-steps_per_epoch:]) / steps_per_epoch)
            if history.d_loss:
                history.epoch_d_loss.append(
                    sum(history.d_loss[-steps_per_epoch:]) / steps_per_epoch
                )
            if epoch_metrics is not None and shard.is_main:
                for name, value in measure(objective, epoch_metrics).items():
                    history.metrics.setdefault(name, []).append(value)
    return history
