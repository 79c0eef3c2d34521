"""The small pieces every training loop of the course shares, so that a loop shows its algorithm and
calls its plumbing by name: the seeded random streams of a run, one optimiser update, parameters
frozen for the other player's step, the NaN guard, progress bars and per-epoch measurements.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.runtime.config import show_progress
from course_lib.runtime.distributed import Shard


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


def checked_loss(loss: torch.Tensor, player: str, epoch: int, step: int) -> float:
    """The loss as a float, or a NonFiniteLossError that says which player's loss broke (step: generator step)."""
    try:
        return check_finite(loss, epoch + 1, step)
    except NonFiniteLossError as error:
        raise NonFiniteLossError(
            f"{player.capitalize()} loss: {error} In a GAN it also happens when one player overwhelms "
            "the other: try Adam with betas=(0.5, 0.999) and a learning rate near 2e-4, and check that "
            "the data lies in the generator's output range."
        ) from None


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
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
    """A tqdm progress bar (widget in Jupyter, text in a terminal); ``COURSE_PROGRESS=off`` hides it.

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


@torch.no_grad()
def measure(
    model: nn.Module, epoch_metrics: Callable[[nn.Module], dict[str, float]]
) -> dict[str, float]:
    model.eval()
    try:
        return {key: float(value) for key, value in epoch_metrics(model).items()}
    finally:
        model.train()
