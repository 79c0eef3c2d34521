"""A plain training loop: shuffled minibatches, a loss history, a NaN guard, checkpoints.

``fit`` trains any model whose loss can be written as ``loss_fn(model, *batch) -> scalar`` on
in-memory tensors (every data set of the course fits in memory). Shuffling uses a generator
seeded by ``(seed, epoch)`` and the global RNG state is checkpointed (``training.resume``), so a
run that is stopped and resumed from its checkpoint ends with exactly the same weights as one
that never stopped.

The body of ``fit`` is the textbook loop (loss, zero_grad, backward, step, record); resuming,
distributed weighting, evaluation and checkpoints are the small functions it calls by name.
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable, Sequence

import torch
from torch import nn

from course_lib.runtime.checkpoints import Checkpointing
from course_lib.runtime.config import active_profile
from course_lib.runtime.distributed import Shard, sum_across, wrap
from course_lib.runtime.speed import Speed, speed_for
from course_lib.training.batches import ResidentData, as_tensors
from course_lib.training.checks import check_count, check_last_batch, check_training_tensors
from course_lib.training.resume import LoopState
from course_lib.training.steps import NonFiniteLossError, check_finite, measure, progress, update

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
    """Mean of ``loss_fn`` over ``data`` (weighted by batch size), with the model in eval mode.

    Non-finite data or a non-finite loss raises, as in training, instead of returning NaN.
    """
    tensors = check_training_tensors(as_tensors(data), "evaluation data")
    check_count(batch_size, "batch_size")
    if len(tensors[0]) == 0:
        raise ValueError("The evaluation data is empty: pass at least one example.")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(tensors[0]), batch_size):
        batch = [t[start : start + batch_size].to(device) for t in tensors]
        value = loss_fn(model, *batch).item()
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"The evaluation loss is {value} on rows {start} to {start + len(batch[0])} of "
                "the evaluation data: the model's outputs overflowed. Check the data's range "
                "and lower the learning rate."
            )
        total += value * len(batch[0])
        count += len(batch[0])
    model.train(was_training)
    return total / count


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
    checkpoint: str | os.PathLike | Checkpointing | None = None,
    log_every: int = 1,
    desc: str = "training",
    epoch_metrics: Callable[[nn.Module], dict[str, float]] | None = None,
    shard: Shard | None = None,
    speed: Speed | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return the history of per-epoch losses.

    With ``checkpoint`` (a path, or a ``Checkpointing`` to save less often or record more), the
    whole state is saved after every epoch and an existing checkpoint of the same run is
    continued: a finished run is simply loaded, an interrupted one goes on exactly where it
    stopped. A checkpoint of a run with another seed, batch size or data is refused, and so is
    one that has done more epochs than ``epochs``.
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
    train_data = check_training_tensors(as_tensors(train_data), "training data")
    test_tensors = () if test_data is None else as_tensors(test_data)
    check_training_tensors(test_tensors, "test data")
    check_count(epochs, "epochs")
    check_count(batch_size, "batch_size")
    check_count(log_every, "log_every")
    check_last_batch(model, len(train_data[0]), batch_size)
    speed = speed if speed is not None else speed_for(active_profile(), device)
    data = ResidentData(train_data, device, shard)
    state = LoopState(
        checkpoint,
        model,
        {"loop": "fit", "seed": seed, "batch_size": batch_size},
        {"optimizer": optimizer},
        data=(*train_data, *test_tensors),
        epochs=epochs,
        device=device,
        shard=shard,
    )
    give_each_process_its_own_noise(shard)  # before a resume restores each process's own
    start_epoch, saved = state.start()
    history = saved["history"] if saved else new_history(test_data is not None)
    if start_epoch > 0 and shard.is_main:
        print(f"{desc}: resumed from {state.checkpointing.path} after epoch {start_epoch}/{epochs}")
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
        state.end_epoch(epoch + 1, history)
        if shard.is_main and ((epoch + 1) % log_every == 0 or epoch + 1 == epochs):
            print(_epoch_line(desc, epoch + 1, epochs, history))
    return history


def new_history(with_test_loss: bool) -> History:
    """An empty history: per-epoch training loss and seconds (and test loss, with test data)."""
    history: History = {"train_loss": [], "seconds": []}
    if with_test_loss:
        history["test_loss"] = []
    return history


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
