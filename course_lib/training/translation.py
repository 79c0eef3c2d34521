"""The image-to-image translation loops: pix2pix (paired data), CycleGAN (two unpaired domains)
and StarGAN (one generator for many domains).

Each is a round of player steps in its paper's order, played with the pieces of
``course_lib.training.game`` (device, torchrun, NaN guard, history, epochs) and
``course_lib.training.steps`` (seeded streams, minibatches, frozen parameters, progress):

- pix2pix: one discriminator step, then one generator step, on each minibatch of pairs;
- CycleGAN: one step of both generators, then one of both discriminators, on a minibatch of
  each domain;
- StarGAN: ``d_steps`` discriminator steps, each on its own minibatch, then one generator step.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from course_lib.data.face_conditions import check_conditions
from course_lib.objectives.cyclegan import CycleGAN, ImagePool
from course_lib.objectives.pix2pix import Pix2Pix
from course_lib.objectives.stargan import StarGAN
from course_lib.runtime.checkpoints import Checkpointing
from course_lib.runtime.distributed import Shard
from course_lib.training.batches import ResidentData
from course_lib.training.checks import check_count, check_training_tensors
from course_lib.training.game import (
    AdversarialHistory,
    Game,
    generator_steps_per_epoch,
    start_or_resume,
)
from course_lib.training.resume import LoopState
from course_lib.training.steps import frozen, minibatches, progress, seeded_run

GENERATOR_TERMS = ("adversarial_ab", "adversarial_ba", "cycle_a", "cycle_b", "identity")


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
    checkpoint: str | os.PathLike | Checkpointing | None = None,
) -> AdversarialHistory:
    """Alternate one D step and one G step per minibatch of pairs, as in the paper; return the
    history.

    ``inputs`` (N, C_in, S, S) and ``targets`` (N, C_out, S, S) are indexed together, in a new
    random order each epoch (full minibatches only). ``d_optimizer`` is needed unless the
    objective is L1 only (then ``d_loss`` stays empty). The history's ``terms`` are the
    generator's ``g_adversarial`` and ``l1``; ``g_loss`` is their weighted sum. The data order and
    torch's global stream (the decoder's dropout) follow from ``seed``; the global stream is
    restored afterwards. A NaN or infinite loss raises ``NonFiniteLossError`` before its step is
    applied. Under torchrun (``shard``) each process trains on its part of every minibatch, as
    in ``train_gan``, and ``checkpoint`` saves and continues the run as there.
    """
    shard = shard or Shard()
    inputs, targets = check_training_tensors((inputs, targets), "training pairs")
    check_count(epochs, "epochs")
    check_count(batch_size, "batch_size")
    if objective.uses_discriminator and d_optimizer is None:
        raise ValueError(
            "This objective trains a discriminator: pass d_optimizer (or set adversarial_weight=0)."
        )
    shard.check_divides(batch_size)
    pairs = ResidentData((inputs, targets), device, shard)
    steps_per_epoch = generator_steps_per_epoch(len(pairs), batch_size, d_steps=1)
    with seeded_run(seed, device, rank=shard.rank) as (data_rng,):
        optimizers = {"g": g_optimizer, "d": d_optimizer} if d_optimizer else {"g": g_optimizer}
        state = LoopState(
            checkpoint,
            objective,
            {"loop": "train_pix2pix", "seed": seed, "batch_size": batch_size},
            {**optimizers, "data_rng": data_rng},
            data=(inputs, targets),
            epochs=epochs,
            device=device,
            shard=shard,
        )
        history, first_round = start_or_resume(state, steps_per_epoch)
        game = Game(objective, history, device, shard)
        batches = minibatches(pairs, data_rng, batch_size, per_epoch=steps_per_epoch)
        bar = progress(range(first_round, epochs * steps_per_epoch), shard, desc=desc, unit="step")
        for _ in game.rounds(bar, epoch_metrics, state=state):
            x, y = next(batches)
            d_loss = None
            if objective.uses_discriminator:
                loss = game.loss("discriminator_loss", x, y)
                d_loss = game.update("discriminator", d_optimizer, loss)
            with frozen(objective.discriminator_parameters()):  # G's step needs no grads for D
                losses = game.loss("generator_losses", x, y)
                g_loss = game.update("generator", g_optimizer, losses["total"])
            game.record(
                d_loss, g_loss, g_adversarial=losses["adversarial"].item(), l1=losses["l1"].item()
            )
    return history


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
    checkpoint: str | os.PathLike | Checkpointing | None = None,
) -> AdversarialHistory:
    """Train both generators and both discriminators on unpaired images; return the history.

    ``domain_a`` (N_A, C_A, H, W) and ``domain_b`` (N_B, C_B, H, W), in the generators' output
    range, are drawn independently: each epoch puts each domain in its own new random order and
    takes min(N_A, N_B) // batch_size steps, each with the next ``batch_size`` images of A and
    of B (full minibatches only). Every step is, as in the paper's code, one update of both
    generators (``g_optimizer``, over ``objective.generator_parameters()``), then one of both
    discriminators (``d_optimizer``, over ``objective.discriminator_parameters()``) on the real
    minibatches and the step's translations passed through one ``ImagePool(pool_size)`` per
    domain (``pool_size=0``: the latest translations only). The history's ``d_loss`` is the
    discriminators' summed loss, ``g_loss`` the generators' total and ``terms`` its parts
    (``adversarial_ab``, ``adversarial_ba``, ``cycle_a``, ``cycle_b``, ``identity``).
    ``epoch_metrics(objective)`` runs after every epoch, in eval mode without gradients.

    The data orders, the pools' choices and torch's global stream follow from ``seed``; the
    global stream is restored afterwards. A NaN or infinite loss raises ``NonFiniteLossError``
    before its step is applied. Under torchrun (``shard``) each process trains on its part of
    every minibatch (and keeps its own image pools), as in ``train_gan``; ``checkpoint`` saves
    and continues the run (image pools included) as there.
    """
    shard = shard or Shard()
    for name, images in (("domain_a", domain_a), ("domain_b", domain_b)):
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"{name} must be a tensor of images (N, C, H, W), got {got}.")
        check_training_tensors((images,), f"{name} images")
    check_count(epochs, "epochs")
    check_count(batch_size, "batch_size")
    check_count(pool_size, "pool_size", minimum=0)
    smaller = min(len(domain_a), len(domain_b))
    if smaller < batch_size:
        raise ValueError(
            f"The smaller domain has {smaller} images, not enough for one minibatch of "
            f"{batch_size}; lower batch_size."
        )
    shard.check_divides(batch_size)
    images_a = ResidentData(domain_a, device, shard)
    images_b = ResidentData(domain_b, device, shard)
    steps_per_epoch = smaller // batch_size
    with seeded_run(seed, device, streams=4, rank=shard.rank) as streams:
        rng_a, rng_b, pool_rng_a, pool_rng_b = streams
        pool_a = ImagePool(pool_size, seed=pool_rng_a.initial_seed())
        pool_b = ImagePool(pool_size, seed=pool_rng_b.initial_seed())
        state = LoopState(
            checkpoint,
            objective,
            {"loop": "train_cyclegan", "seed": seed, "batch_size": batch_size, "pool": pool_size},
            {"g": g_optimizer, "d": d_optimizer, "rng_a": rng_a, "rng_b": rng_b},
            rank_parts={"pool_a": pool_a, "pool_b": pool_b},  # each process keeps its own pools
            data=(domain_a, domain_b),
            epochs=epochs,
            device=device,
            shard=shard,
        )
        history, first_round = start_or_resume(state, steps_per_epoch)
        game = Game(objective, history, device, shard)
        batches_a = minibatches(images_a, rng_a, batch_size, per_epoch=steps_per_epoch)
        batches_b = minibatches(images_b, rng_b, batch_size, per_epoch=steps_per_epoch)
        bar = progress(range(first_round, epochs * steps_per_epoch), shard, desc=desc, unit="step")
        for _ in game.rounds(bar, epoch_metrics, state=state):
            (real_a,), (real_b,) = next(batches_a), next(batches_b)
            with frozen(objective.discriminator_parameters()):  # G's step needs no grads for D
                losses = game.loss("generator_losses", real_a, real_b)
                g_loss = game.update("generator", g_optimizer, losses["total"])
            fake_a, fake_b = pool_a.query(losses["fake_a"]), pool_b.query(losses["fake_b"])
            loss = game.loss("discriminator_loss", real_a, real_b, fake_a, fake_b)
            d_loss = game.update("discriminator", d_optimizer, loss)
            game.record(d_loss, g_loss, **{term: losses[term].item() for term in GENERATOR_TERMS})
    return history


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
    checkpoint: str | os.PathLike | Checkpointing | None = None,
) -> AdversarialHistory:
    """Train StarGAN's two players on ``images`` (N, C, S, S) in [-1, 1] with their
    ``conditions`` (N, 13); return the history.

    Each generator step follows ``d_steps`` discriminator steps (the paper: 5), each on its own
    minibatch; the generator step reuses the last one. An epoch is one pass over a new random
    order of the data in full minibatches, so it has (N // batch_size) // d_steps generator
    steps. The paper's optimisers: Adam with learning rate 1e-4 and betas (0.5, 0.999) for both.

    The history's ``d_loss`` (L_D) and its ``terms`` ``wasserstein`` (mean D_src(x) - mean
    D_src(G(x, c)), the critic's distance estimate), ``penalty`` and ``d_classification``
    (L_cls^r) are means over the round's discriminator steps; ``g_loss`` (L_G) and the terms
    ``g_adversarial``, ``g_classification`` (L_cls^f) and ``reconstruction`` (L_rec) are the
    generator step's.

    Everything random follows from ``seed``: the data order and torch's global stream (the
    target conditions and the penalty's interpolation weights, drawn on the CPU, so the same on
    every device), which is seeded for the run and restored afterwards. A NaN or infinite loss
    raises ``NonFiniteLossError`` before its step is applied. Under torchrun (``shard``) each
    process trains on its part of every minibatch, as in ``train_gan``, and ``checkpoint``
    saves and continues the run as there.
    """
    shard = shard or Shard()
    check_conditions(conditions)
    check_training_tensors((images, conditions), "training faces")
    check_count(epochs, "epochs")
    check_count(batch_size, "batch_size")
    check_count(d_steps, "d_steps")
    shard.check_divides(batch_size)
    faces = ResidentData((images, conditions), device, shard)
    steps_per_epoch = generator_steps_per_epoch(len(faces), batch_size, d_steps)
    with seeded_run(seed, device, rank=shard.rank) as (data_rng,):
        state = LoopState(
            checkpoint,
            objective,
            {"loop": "train_stargan", "seed": seed, "batch_size": batch_size, "d_steps": d_steps},
            {"g": g_optimizer, "d": d_optimizer, "data_rng": data_rng},
            data=(images, conditions),
            epochs=epochs,
            device=device,
            shard=shard,
        )
        history, first_round = start_or_resume(state, steps_per_epoch)
        game = Game(objective, history, device, shard)
        batches = minibatches(faces, data_rng, batch_size, steps_per_epoch * d_steps)
        bar = progress(range(first_round, epochs * steps_per_epoch), shard, desc=desc, unit="step")
        for _ in game.rounds(bar, epoch_metrics, state=state):
            d_terms = []
            for _ in range(d_steps):  # n_critic steps, each on its own minibatch
                x, c = next(batches)
                losses = game.loss("discriminator_losses", x, c)
                game.update("discriminator", d_optimizer, losses["total"])
                d_terms.append({name: value.item() for name, value in losses.items()})
            with frozen(objective.discriminator_parameters()):  # G's step needs no grads for D
                losses = game.loss("generator_losses", x, c)
                g_loss = game.update("generator", g_optimizer, losses["total"])
            d = {name: sum(terms[name] / d_steps for terms in d_terms) for name in d_terms[0]}
            game.record(
                d["total"],
                g_loss,
                wasserstein=-d["critic"],
                penalty=d["penalty"],
                d_classification=d["classification"],
                g_adversarial=losses["adversarial"].item(),
                g_classification=losses["classification"].item(),
                reconstruction=losses["reconstruction"].item(),
            )
    return history
