"""Adversarial training: Algorithm 5.2 of the lecture notes, with the losses from an objective.

One loop serves every adversarial model of the course. What differs between the original GAN,
BiGAN and (in notebook 07) WGAN and WGAN-GP is only *what* each player minimises, which
parameters belong to which player, and whether something happens after a discriminator update
(WGAN clips the critic's weights there). A ``GANObjective`` says exactly that; ``train_gan``
does the rest: k discriminator steps per generator step, each on its own real minibatch and
fresh noise, then one generator step on fresh noise. The plumbing around it (device and
torchrun, autocast, the NaN guard, snapshots, per-epoch means and measurements) is called by
name from ``course_lib.training.game`` and ``course_lib.training.steps``.
"""

from __future__ import annotations

import os
from typing import Callable

import torch

from course_lib.objectives.gan import GANObjective, sample_latent
from course_lib.runtime.checkpoints import Checkpointing
from course_lib.runtime.config import active_profile
from course_lib.runtime.distributed import Shard
from course_lib.runtime.speed import Speed, speed_for
from course_lib.training.batches import ResidentData, as_tensors
from course_lib.training.checks import check_count, check_training_tensors
from course_lib.training.game import (
    AdversarialHistory,
    Game,
    Snapshots,
    generator_steps_per_epoch,
    start_or_resume,
)
from course_lib.training.resume import LoopState
from course_lib.training.steps import frozen, minibatches, progress, seeded_run

SNAPSHOT_SAMPLES = 64  # default number of fixed codes whose images are kept during training


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
    checkpoint: str | os.PathLike | Checkpointing | None = None,
) -> AdversarialHistory:
    """Train ``objective``'s players on ``data`` by Algorithm 5.2 (lecture notes); return history.

    The loop below is the algorithm line by line (its numbers in the comments): repeat {k times
    {m codes, m real examples, one step of D up the gradient of V}; m fresh codes, one step of
    G down the gradient of its loss}. Here k is ``d_steps`` and m is ``batch_size``, and each
    player minimises the loss its objective gives (D's is -V). The generator step reuses the
    last real minibatch, which only BiGAN's encoder reads.

    ``data`` holds training examples (N, ...) already scaled like the generator's outputs (for
    example images in [-1, 1] for a tanh generator). A tuple of equally long tensors, such as
    (images, labels) for a conditional GAN, is indexed together: the objective then receives
    ``real`` as the tuple of their rows. An epoch is one pass over a new random order of the
    data, cut into full minibatches: it has (N // batch_size) // d_steps generator steps, so the
    discriminator sees about N real examples per epoch whatever k is.

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

    With ``checkpoint`` (a path, or a ``Checkpointing``) the whole state (both players, both
    optimisers, the random streams, the history) is saved after every epoch, and a checkpoint
    of the same run is continued exactly where it stopped (see ``course_lib.training.resume``).
    """
    shard = shard or Shard()
    tensors = check_training_tensors(as_tensors(data), "training data")
    check_count(epochs, "epochs")
    check_count(batch_size, "batch_size")
    check_count(latent_dim, "latent_dim")
    check_count(d_steps, "d_steps")
    if snapshot_every is not None:
        check_count(snapshot_every, "snapshot_every")
    speed = speed if speed is not None else speed_for(active_profile(), device)
    shard.check_divides(batch_size)
    examples = ResidentData(tensors, device, shard)
    steps_per_epoch = generator_steps_per_epoch(len(examples), batch_size, d_steps)
    # Independent streams, so that for instance turning snapshots on does not change training.
    with seeded_run(seed, device, streams=3, rank=shard.rank) as (data_rng, code_rng, snapshot_rng):
        state = LoopState(
            checkpoint,
            objective,
            {"loop": "train_gan", "seed": seed, "batch_size": batch_size, "d_steps": d_steps},
            {"d": d_optimizer, "g": g_optimizer, "data_rng": data_rng, "code_rng": code_rng},
            data=tensors,
            epochs=epochs,
            device=device,
            shard=shard,
        )
        history, first_round = start_or_resume(state, steps_per_epoch)
        game = Game(objective, history, device, shard, speed)
        real = minibatches(examples, data_rng, batch_size, history.steps_per_epoch * d_steps, speed)
        if isinstance(data, torch.Tensor):  # one data tensor: its minibatches, not 1-tuples
            real = (batch for (batch,) in real)

        def codes() -> torch.Tensor:  # this process's part of m codes z ~ N(0, I)
            return shard.part(sample_latent(batch_size, latent_dim, code_rng, device))

        rounds = epochs * history.steps_per_epoch
        bar = progress(range(first_round, rounds), shard, desc=desc, unit="step")
        snapshots = None
        if snapshot_every is not None:
            if snapshot_z is None:
                snapshot_z = sample_latent(SNAPSHOT_SAMPLES, latent_dim, snapshot_rng)
            snapshots = Snapshots(objective, snapshot_z.to(device), snapshot_every, last=rounds)

        for _ in game.rounds(bar, epoch_metrics, snapshots, state):  # 1: repeat
            d_losses = []
            for _ in range(d_steps):  # 2: for i = 1 to k
                z = codes()  # 3: m noise codes
                x = next(real)  # 4: m training examples
                loss = game.loss("discriminator_loss", x, z)  # 5-6: D's step (D minimises -V)
                d_losses.append(game.update("discriminator", d_optimizer, loss))
                objective.after_discriminator_step()  # (WGAN clips the critic's weights here)
            z = codes()  # 8: m fresh noise codes
            with frozen(objective.discriminator_parameters()):  # 9-10: G's step, D held fixed
                loss = game.loss("generator_loss", x, z)
                g_loss = game.update("generator", g_optimizer, loss)
            game.record(d_loss=sum(d_losses) / d_steps, g_loss=g_loss)
    return history
