"""The small pieces every training loop of the course shares, so that a loop shows its algorithm and
calls its plumbing by name: the seeded random streams of a run, an endless stream of shuffled
minibatches, one optimiser update, parameters frozen for the other player's step, the NaN guard,
progress bars and per-epoch measurements in eval mode.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.runtime.config import show_progress
from course_lib.runtime.distributed import Shard
from course_lib.runtime.speed import Speed
from course_lib.training.batches import ResidentData


def _spawn(root: torch.Generator) -> torch.Generator:
    """A new CPU generator seeded from ``root``'s stream."""
    return torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=root)))


@contextmanager
def seeded_run(
    seed: int, device: torch.device | str, streams: int = 1, rank: int = 0
) -> Iterator[tuple[torch.Generator, ...]]:
    """The random setup every training loop of the course shares.

    Yields ``streams`` independent CPU generators derived from ``seed`` (data order, codes, ...),
    and inside the block torch's global stream (dropout, penalty weights, random targets) is
    seeded from ``seed`` too and restored afterwards, so a run neither depends on nor disturbs
    the caller's random state. Under torchrun the streams are the same in every process (same
    data order and codes) and the global stream is offset by the process ``rank``.
    """
    root = torch.Generator().manual_seed(seed)
    spawned = tuple(_spawn(root) for _ in range(streams))
    global_seed = int(torch.randint(2**62, (1,), generator=root))
    with torch.random.fork_rng(devices=_cuda_indices(device)):
        torch.manual_seed(global_seed + rank)
        yield spawned


def _cuda_indices(device: torch.device | str) -> list[int]:
    """The CUDA device whose random state ``fork_rng`` must save and restore (none on the CPU)."""
    device = torch.device(device)
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def minibatches(
    data: ResidentData,
    generator: torch.Generator,
    batch_size: int,
    per_epoch: int,
    speed: Speed = Speed(),
) -> Iterator[tuple[torch.Tensor, ...]]:
    """This process's share of shuffled full minibatches of ``data``, epoch after epoch, no end.

    Every epoch draws a new random order from ``generator``, cuts it into full minibatches of
    ``batch_size`` and serves the first ``per_epoch`` of them (a loop that takes k minibatches
    per step leaves out the remainder that would not fill a step). Each minibatch is a tuple
    with one tensor per data tensor, laid out as ``speed`` asks.
    """
    while True:
        for index in data.full_batches(generator, batch_size)[:per_epoch]:  # (batch_size,)
            yield tuple(speed.layout(tensor) for tensor in data.rows(index))


def checked_loss(loss: torch.Tensor, player: str, epoch: int, step: int) -> float:
    """The loss as a float, or a NonFiniteLossError that says which player's loss broke.

    ``epoch`` counts from 0 and is reported from 1; ``step`` is the generator step in the epoch.
    """
    try:
        return check_finite(loss, epoch + 1, step)
    except NonFiniteLossError as error:
        raise NonFiniteLossError(
            f"{player.capitalize()} loss: {error} In a GAN it also happens when one player "
            "overwhelms the other: try Adam with betas=(0.5, 0.999) and a learning rate near 2e-4, "
            "and check that the data lies in the generator's output range."
        ) from None


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One step of ``optimizer`` down the gradient of ``loss`` (old gradients cleared first)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


@contextmanager
def frozen(parameters: Iterable[nn.Parameter]) -> Iterator[None]:
    """Parameters with requires_grad off inside the block, restored afterwards."""
    parameters = [p for p in parameters if p.requires_grad]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in parameters:
            parameter.requires_grad_(True)


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; training stops instead of silently producing garbage."""


def progress(iterable, shard: Shard | None = None, **kwargs):
    """A tqdm progress bar (a widget in Jupyter, text in a terminal); ``COURSE_PROGRESS=off``
    hides it.

    Under torchrun only rank 0 shows one.
    """
    disable = not show_progress() or (shard is not None and not shard.is_main)
    return tqdm(iterable, disable=disable, **kwargs)


def check_finite(loss: torch.Tensor, epoch: int, step: int) -> float:
    value = loss.item()
    if not torch.isfinite(loss):
        raise NonFiniteLossError(
            f"The loss became {value} at epoch {epoch}, step {step}. Usual causes: a learning rate "
            "too high, log(0) in a hand-written loss, or inputs outside the range the loss expects "
            "(BCE needs targets in [0, 1]). Lower the learning rate or check the loss and data."
        )
    return value


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode without gradients inside the block, back in train mode after it."""
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train()


def measure(
    model: nn.Module, epoch_metrics: Callable[[nn.Module], dict[str, float]]
) -> dict[str, float]:
    """``epoch_metrics(model)`` as floats, measured in eval mode without gradients."""
    with evaluating(model):
        return {key: float(value) for key, value in epoch_metrics(model).items()}
