"""A plain training loop: shuffled minibatches, a loss history, a NaN guard, checkpoints.

``fit`` trains any model whose loss can be written as ``loss_fn(model, *batch) -> scalar`` on
in-memory tensors (every data set of the course fits in memory). Shuffling uses a generator
seeded by ``(seed, epoch)`` and the global RNG state is checkpointed, so a run that is stopped and
resumed from its checkpoint ends with exactly the same weights as one that never stopped.

The body of ``fit`` is the textbook loop (loss, zero_grad, backward, step, record); resuming,
distributed weighting, evaluation and checkpoints are the small functions it calls by name.
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
from course_lib.training.steps import check_finite, measure, progress, update

LossFn = Callable[..., torch.Tensor]
History = dict[str, list[float]]


class LossOf(nn.Module):
    """``loss_fn(model, *batch)`` as a module, so that DistributedDataParallel can wrap a step."""

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
    start_epoch, history = resume_or_start(checkpoint, model, optimizer, test_data is not None)
    if start_epoch > 0 and shard.is_main:
        print(f"{desc}: resumed from {checkpoint} after epoch {start_epoch}/{epochs}")
    give_each_process_its_own_noise(shard)
    speed.prepare(model.to(device).train())
    step_loss = wrap(LossOf(model, loss_fn), shard, device)
    epoch_bar = progress(range(start_epoch, epochs), shard, desc=desc, unit="epoch")
    for epoch in epoch_bar:
        began = time.perf_counter()
        loss_sum, seen = 0.0, 0
        for step, index in enumerate(data.batches(epoch_generator(seed, epoch), batch_size)):
            batch = tuple(speed.layout(t) for t in data.rows(index))
            with speed.autocast(device):
                loss = step_loss(*batch)
            value = check_finite(loss, epoch + 1, step)
            update(optimizer, global_batch_loss(loss, len(batch[0]), len(index), shard))
            loss_sum, seen = loss_sum + value * len(batch[0]), seen + len(batch[0])
        loss_sum, seen = sum_across([loss_sum, seen], shard)
        history["train_loss"].append(loss_sum / seen)
        record_evaluations(history, model, loss_fn, test_data, epoch_metrics, device, shard)
        history["seconds"].append(time.perf_counter() - began)
        epoch_bar.set_postfix(loss=f"{history['train_loss'][-1]:.4g}")
        if checkpoint is not None and shard.is_main:
            save_epoch(checkpoint, model, optimizer, epoch + 1, history)
        if shard.is_main and ((epoch + 1) % log_every == 0 or epoch + 1 == epochs):
            print(_epoch_line(desc, epoch + 1, epochs, history))
    return history


def resume_or_start(
    checkpoint: str | os.PathLike | None,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    with_test_loss: bool,
) -> tuple[int, History]:
    """The epoch to start from and the history so far: from ``checkpoint`` if it exists.

    Resuming restores the model, the optimiser and torch's random state as they were after the
    saved epoch, so the rest of the run matches a run that never stopped.
    """
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, model, optimizer)
        _restore_rng_state(state["rng"])
        return state["epoch"], state["history"]
    history: History = {"train_loss": [], "seconds": []}
    if with_test_loss:
        history["test_loss"] = []
    return 0, history


def save_epoch(
    checkpoint: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs_done: int,
    history: History,
) -> None:
    """Write everything ``resume_or_start`` needs to continue after ``epochs_done`` epochs."""
    save_checkpoint(
        checkpoint, model, optimizer, epoch=epochs_done, history=history, rng=_rng_state()
    )


def give_each_process_its_own_noise(shard: Shard) -> None:
    """Offset torch's global random stream by the process rank (nothing in one process).

    Every process arrives with the same global stream; the others get their own noise (a VAE's
    samples, dropout masks), as one process would draw different noise for every row.
    """
    if shard.rank > 0:
        torch.manual_seed(torch.initial_seed() + shard.rank)


def global_batch_loss(
    loss: torch.Tensor, part_size: int, batch_size: int, shard: Shard
) -> torch.Tensor:
    """The loss to differentiate so that the averaged gradient is that of the global batch mean.

    DistributedDataParallel averages the processes' gradients with equal weights; weighting each
    process's mean by the size of its part makes the result the mean over the whole minibatch,
    even when the parts differ by one example. In one process the loss is unchanged.
    """
    if not shard.distributed:
        return loss
    return loss * (part_size * shard.world_size / batch_size)


def record_evaluations(
    history: History,
    model: nn.Module,
    loss_fn: LossFn,
    test_data: torch.Tensor | Sequence[torch.Tensor] | None,
    epoch_metrics: Callable[[nn.Module], dict[str, float]] | None,
    device: torch.device | str,
    shard: Shard,
) -> None:
    """Append the epoch's test loss and ``epoch_metrics`` (rank 0 only) to ``history``."""
    if test_data is not None:
        history["test_loss"].append(evaluate(model, loss_fn, test_data, device=device))
    if epoch_metrics is not None and shard.is_main:
        for key, value in measure(model, epoch_metrics).items():
            history.setdefault(key, []).append(value)


def _epoch_line(desc: str, epoch: int, epochs: int, history: History) -> str:
    parts = [f"{desc}: epoch {epoch}/{epochs}", f"train_loss {history['train_loss'][-1]:.4f}"]
    if "test_loss" in history:
        parts.append(f"test_loss {history['test_loss'][-1]:.4f}")
    parts.append(f"{history['seconds'][-1]:.1f} s")
    return " | ".join(parts)
