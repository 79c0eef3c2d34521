"""Adversarial training: Algorithm 5.2 of seed 002, with the losses supplied by an objective.

One loop serves every adversarial model of the course. What differs between the original GAN,
BiGAN and (in notebook 07) WGAN and WGAN-GP is only *what* each player minimises, which
parameters belong to which player, and whether something happens after a discriminator update
(WGAN clips the critic's weights there). A ``GANObjective`` says exactly that; ``train_gan``
does the rest: k discriminator steps per generator step, each on its own real minibatch and
fresh noise, the optimiser steps, a NaN guard, snapshots of samples from fixed noise,
per-epoch measurements and a reproducible random stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from course_lib.objectives.gan import GANObjective, sample_latent
from course_lib.runtime.config import active_profile
from course_lib.runtime.distributed import MethodCalls, Shard, mean_across, wrap
from course_lib.runtime.speed import Speed, speed_for
from course_lib.training.batches import ResidentData
from course_lib.training.steps import (
    checked_loss,
    frozen,
    measure,
    progress,
    seeded_run,
    update,
)

SNAPSHOT_SAMPLES = 64  # default number of fixed codes whose images are kept during training


@dataclass
class GANHistory:
    """What ``train_gan`` recorded.

    ``d_loss`` and ``g_loss`` have one entry per generator step (``d_loss`` is the mean over
    that step's k discriminator steps); ``epoch_d_loss`` and ``epoch_g_loss`` are their means
    per epoch. ``snapshots`` holds (generator steps done, images on the CPU) pairs;
    ``metrics`` the per-epoch measurements; ``seconds`` the training time, measurements and
    snapshots excluded.
    """

    steps_per_epoch: int
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    epoch_d_loss: list[float] = field(default_factory=list)
    epoch_g_loss: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def record(self, measurements: dict[str, float]) -> None:
        for name, value in measurements.items():
            self.metrics.setdefault(name, []).append(value)


def train_gan(
    objective: GANObjective,
    data: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    epochs: int,
    batch_size: int,
    d_optimizer: torch.optim.Optimizer,
    g_optimizer: torch.optim.Optimizer,
    d_steps: int = 1,
    latent_dim: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
    snapshot_every: int | None = None,
    snapshot_z: torch.Tensor | None = None,
    epoch_metrics: Callable[[GANObjective], dict[str, float]] | None = None,
    desc: str = "GAN",
    shard: Shard | None = None,
    speed: Speed | None = None,
) -> GANHistory:
    """Train ``objective``'s players on ``data`` by Algorithm 5.2 and return the history.

    ``data`` holds training examples (N, ...) already scaled like the generator's outputs
    (for example images in [-1, 1] for a tanh generator). A tuple of equally long tensors, such
    as (images, labels) for a conditional GAN, is indexed together: the objective then receives
    ``real`` as the tuple of their rows. Each generator step is preceded by
    ``d_steps`` (the algorithm's k) discriminator steps; every discriminator step takes its own
    minibatch of ``batch_size`` real examples and fresh codes, and the generator step draws
    fresh codes too (it reuses the last real minibatch, which only BiGAN's encoder reads).
    An epoch is one pass over a new random order of the data, cut into full minibatches: it has
    (N // batch_size) // d_steps generator steps, so the discriminator sees about N real
    examples per epoch whatever k is.

    Snapshots: with ``snapshot_every`` the images of ``snapshot_z`` (by default 64 codes fixed
    by ``seed``) are kept before training, after every ``snapshot_every`` generator steps and
    after the last. ``epoch_metrics(objective)`` runs after every epoch; snapshots and metrics
    see the models in eval mode without gradients, training sees them in train mode.

    Everything random follows from ``seed``: the data order, the codes, and torch's global
    random stream (dropout, or WGAN-GP's interpolation weights), which is seeded for the run
    and restored afterwards. A NaN or infinite loss raises ``NonFiniteLossError`` before the
    step that produced it is applied.

    The data is moved to ``device`` once (``ResidentData``). Under torchrun, pass
    ``shard=shard_from_environment()``: every process draws the same global minibatches and
    codes and trains on its part of them (``batch_size`` is the global batch and must be a
    multiple of the number of processes); DistributedDataParallel averages the gradients, the
    recorded losses are global means, only rank 0 runs ``epoch_metrics``, and torch's global
    stream is seeded per process so that random interpolation weights or dropout masks differ
    between the parts. ``speed`` (default: the active profile's switches, all off on the CPU)
    turns on bfloat16 autocast and the rest on CUDA.
    """
    shard = shard or Shard()
    speed = speed if speed is not None else speed_for(active_profile(), device)
    shard.check_divides(batch_size)
    resident = ResidentData(data, device, shard)
    steps_per_epoch = generator_steps_per_epoch(len(resident), batch_size, d_steps)
    history = GANHistory(steps_per_epoch)
    total_steps = epochs * steps_per_epoch
    speed.prepare(objective.to(device).train())
    steps = wrap(MethodCalls(objective), shard, device, find_unused=True)
    # Independent streams, so that for instance turning snapshots on does not change training.
    with seeded_run(seed, device, streams=3, rank=shard.rank) as (
        data_rng,
        latent_rng,
        snapshot_rng,
    ):
        if snapshot_every is not None and snapshot_z is None:
            snapshot_z = sample_latent(SNAPSHOT_SAMPLES, latent_dim, snapshot_rng)
        if snapshot_every is not None:
            history.snapshots.append((0, _snapshot(objective, snapshot_z, device)))
        bar = progress(range(total_steps), shard, desc=desc, unit="step")
        batches: Iterator[torch.Tensor] = iter(())
        for step in bar:
            epoch, step_in_epoch = divmod(step, steps_per_epoch)
            began = time.perf_counter()
            if step_in_epoch == 0:
                batches = iter(
                    resident.full_batches(data_rng, batch_size)
                )  # rows of batch_size indices
            d_values = []
            for _ in range(d_steps):
                rows = tuple(speed.layout(t) for t in resident.rows(next(batches)))
                real = rows[0] if isinstance(data, torch.Tensor) else rows
                z = shard.part(sample_latent(batch_size, latent_dim, latent_rng, device))
                with speed.autocast(device):
                    loss = steps("discriminator_loss", real, z)
                d_values.append(checked_loss(loss, "discriminator", epoch, step_in_epoch))
                update(d_optimizer, loss)
                objective.after_discriminator_step()
            z = shard.part(sample_latent(batch_size, latent_dim, latent_rng, device))
            with frozen(
                objective.discriminator_parameters()
            ):  # G's update needs no gradients for D's weights
                with speed.autocast(device):
                    loss = steps("generator_loss", real, z)
                g_value = checked_loss(loss, "generator", epoch, step_in_epoch)
                update(g_optimizer, loss)
            d_mean, g_mean = mean_across([sum(d_values) / d_steps, g_value], shard)
            history.d_loss.append(d_mean)
            history.g_loss.append(g_mean)
            history.seconds += time.perf_counter() - began

            done = step + 1
            if snapshot_every is not None and (done % snapshot_every == 0 or done == total_steps):
                history.snapshots.append((done, _snapshot(objective, snapshot_z, device)))
            if done % steps_per_epoch == 0:
                _close_epoch(history, objective, epoch_metrics if shard.is_main else None)
                bar.set_postfix(
                    d_loss=f"{history.epoch_d_loss[-1]:.3f}",
                    g_loss=f"{history.epoch_g_loss[-1]:.3f}",
                )
    return history


def generator_steps_per_epoch(n: int, batch_size: int, d_steps: int) -> int:
    """(n // batch_size) // d_steps: each generator step follows d_steps discriminator minibatches.

    Raises a ValueError naming the fix when d_steps < 1 or the data cannot fill one step.
    """
    if d_steps < 1:
        raise ValueError(
            f"d_steps (discriminator steps per generator step) must be at least 1, got {d_steps}."
        )
    steps = (n // batch_size) // d_steps
    if steps == 0:
        raise ValueError(
            f"{n} training examples do not fill d_steps x batch_size = {d_steps} x {batch_size} "
            "real minibatches for even one generator step; lower batch_size or d_steps."
        )
    return steps


@torch.no_grad()
def _snapshot(objective: GANObjective, z: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    objective.eval()
    try:
        return objective.sample(z.to(device)).cpu()
    finally:
        objective.train()


def _close_epoch(
    history: GANHistory,
    objective: GANObjective,
    epoch_metrics: Callable[[GANObjective], dict[str, float]] | None,
) -> None:
    steps = history.steps_per_epoch
    history.epoch_d_loss.append(sum(history.d_loss[-steps:]) / steps)
    history.epoch_g_loss.append(sum(history.g_loss[-steps:]) / steps)
    if epoch_metrics is not None:
        history.record(measure(objective, epoch_metrics))
