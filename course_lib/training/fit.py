"""A plain training loop: shuffled minibatches, a loss history, a NaN guard, checkpoints.

``fit`` trains any model whose loss can be written as ``loss_fn(model, *batch) -> scalar`` on
in-memory tensors (every data set of the course fits in memory). Shuffling uses a generator
seeded by ``(seed, epoch)`` and the global RNG state is checkpointed, so a run that is stopped and
resumed from its checkpoint ends with exactly the same weights as one that never stopped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from course_lib.runtime.checkpoints import load_checkpoint, save_checkpoint
from course_lib.runtime.config import active_profile
from course_lib.runtime.distributed import Shard, sum_across, wrap
from course_lib.runtime.speed import Speed, speed_for
from course_lib.training.batches import ResidentData, as_tensors
from course_lib.training.steps import check_finite, measure, progress

LossFn = Callable[..., torch.Tensor]
History = dict[str, list[float]]


class LossOf(nn.Module):
    """``loss_fn(model, *batch)`` as a module, so that DistributedDataParallel can wrap one training step."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, *batch: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.model, *batch)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # One generator per (seed, epoch): the shuffle of epoch e is the same whether or not the
    # run was resumed in between.
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_fn: LossFn,
    data: torch.Tensor | Sequence[torch.Tensor],
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> float:
    """Mean of ``loss_fn`` over ``data`` (weighted by batch size), with the model in eval mode."""
    tensors = as_tensors(data)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(tensors[0]), batch_size):
        batch = [t[start : start + batch_size].to(device) for t in tensors]
        total += loss_fn(model, *batch).item() * len(batch[0])
        count += len(batch[0])
    model.train(was_training)
    return total / count


def _rng_state() -> dict[str, object]:
    state: dict[str, object] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng_state(state: dict[str, object]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train_data: torch.Tensor | Sequence[torch.Tensor],
    *,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
    test_data: torch.Tensor | Sequence[torch.Tensor] | None = None,
    checkpoint: str | os.PathLike | None = None,
    log_every: int = 1,
    desc: str = "training",
    epoch_metrics: Callable[[nn.Module], dict[str, float]] | None = None,
    shard: Shard | None = None,
    speed: Speed | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return the history of per-epoch losses.

    With ``checkpoint``, state is saved after every epoch and an existing checkpoint of the same
    model is resumed: a finished run is simply loaded, an interrupted one continues.
    ``epoch_metrics(model)`` is called after every epoch (model in eval mode, no gradients); each
    entry of the dict it returns is appended to the history under its key.

    The training tensors are moved to ``device`` once (``ResidentData``). Under torchrun, pass
    ``shard=shard_from_environment()``: each process trains on its part of every minibatch, the
    gradients are averaged by DistributedDataParallel, the history holds the global means, and
    only rank 0 prints, runs ``epoch_metrics`` and writes the checkpoint. ``speed`` (default:
    the active profile's switches, all off on the CPU) turns on bfloat16 autocast, channels_last
    and the rest on CUDA.
    """
    shard = shard or Shard()
    speed = speed if speed is not None else speed_for(active_profile(), device)
    data = ResidentData(train_data, device, shard)
    history: History = {"train_loss": [], "seconds": []}
    if test_data is not None:
        history["test_loss"] = []
    start_epoch = 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, model, optimizer)
        start_epoch, history = state["epoch"], state["history"]
        _restore_rng_state(state["rng"])
        if shard.is_main:
            print(f"{desc}: resumed from {checkpoint} after epoch {start_epoch}/{epochs}")

    if shard.rank > 0:
        # Every process arrives with the same global stream; give the others their own noise
        # (a VAE's samples, dropout masks), as one process would draw different noise per row.
        torch.manual_seed(torch.initial_seed() + shard.rank)
    speed.prepare(model.to(device).train())
    step_loss = wrap(LossOf(model, loss_fn), shard, device)
    epoch_bar = progress(range(start_epoch, epochs), shard, desc=desc, unit="epoch")
    for epoch in epoch_bar:
        began = time.perf_counter()
        running, seen = 0.0, 0
        for step, index in enumerate(data.batches(epoch_generator(seed, epoch), batch_size)):
            batch = tuple(speed.layout(t) for t in data.rows(index))
            with speed.autocast(device):
                loss = step_loss(*batch)
            value = check_finite(loss, epoch + 1, step)
            if shard.distributed:
                # DDP averages over processes; weight each part by its size so that the result is
                # the mean over the global batch even when the parts differ by one example.
                loss = loss * (len(batch[0]) * shard.world_size / len(index))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += value * len(batch[0])
            seen += len(batch[0])
        running, seen = sum_across([running, seen], shard)
        history["train_loss"].append(running / seen)
        if test_data is not None:
            history["test_loss"].append(evaluate(model, loss_fn, test_data, device=device))
        if epoch_metrics is not None and shard.is_main:
            for key, value in measure(model, epoch_metrics).items():
                history.setdefault(key, []).append(value)
        history["seconds"].append(time.perf_counter() - began)
        epoch_bar.set_postfix(loss=f"{history['train_loss'][-1]:.4g}")
        if checkpoint is not None and shard.is_main:
            save_checkpoint(
                checkpoint, model, optimizer, epoch=epoch + 1, history=history, rng=_rng_state()
            )
        if shard.is_main and ((epoch + 1) % log_every == 0 or epoch + 1 == epochs):
            print(_epoch_line(desc, epoch + 1, epochs, history))
    return history


def _epoch_line(desc: str, epoch: int, epochs: int, history: History) -> str:
    parts = [f"{desc}: epoch {epoch}/{epochs}", f"train_loss {history['train_loss'][-1]:.4f}"]
    if "test_loss" in history:
        parts.append(f"test_loss {history['test_loss'][-1]:.4f}")
    parts.append(f"{history['seconds'][-1]:.1f} s")
    return " | ".join(parts)
