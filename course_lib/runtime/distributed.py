"""Data-parallel training with torchrun: which share of each batch a process trains on.

The course's loops (``training.fit``, ``gan_training.train_gan``) take a ``Shard``. With the
default ``Shard()`` nothing changes. Under ``torchrun --nproc_per_node N`` every process draws
the same global minibatch (same seed, same order) and trains on its own contiguous part of it;
``DistributedDataParallel`` averages the gradients, so N processes with a global batch of B
take the same steps as one process with a batch of B, up to float rounding. Only BatchNorm
breaks that: it normalises each process's part separately. On GPUs ``wrap`` converts it to
``SyncBatchNorm``; on CPUs (gloo) PyTorch has no synchronised version, so the difference stays
(with a warning). Steps that draw noise (a VAE's samples, WGAN-GP's interpolation weights)
draw it per process, so they agree with one process in distribution, not bit for bit.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Shard:
    """Process ``rank`` of ``world_size`` (0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"Invalid shard: rank {self.rank} of world size {self.world_size}.")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints summaries and writes checkpoints."""
        return self.rank == 0

    def part(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's contiguous part of a global batch
        (parts differ in size by at most one)."""
        if not self.distributed:
            return batch
        if len(batch) < self.world_size:
            raise ValueError(
                f"A batch of {len(batch)} cannot be split over {self.world_size} processes; "
                "use a larger batch size or fewer processes."
            )
        return batch.tensor_split(self.world_size)[self.rank]

    def check_divides(self, batch_size: int) -> None:
        """GAN steps need equal parts: an error unless ``world_size`` divides ``batch_size``."""
        if batch_size % self.world_size:
            raise ValueError(
                f"The global batch size {batch_size} is not divisible by the {self.world_size} "
                f"processes; choose a multiple of {self.world_size}."
            )


def shard_from_environment() -> Shard:
    """The shard torchrun describes in RANK / WORLD_SIZE, joining the process group if needed.

    NCCL on CUDA, gloo on the CPU. Without torchrun's variables: ``Shard()``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Shard()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return Shard(dist.get_rank(), dist.get_world_size())


def process_device(shard: Shard) -> torch.device:
    """The device this process trains on: its own GPU under torchrun on CUDA, else the CPU."""
    if torch.cuda.is_available():
        return torch.device(
            "cuda", int(os.environ.get("LOCAL_RANK", "0")) if shard.distributed else 0
        )
    return torch.device("cpu")


def wrap(
    module: nn.Module, shard: Shard, device: torch.device | str, find_unused: bool = False
) -> nn.Module:
    """``module`` inside DistributedDataParallel when distributed, else unchanged.

    ``find_unused`` is needed when a step leaves some parameters out of the graph, as a GAN's
    discriminator step does with the generator's.
    """
    if not shard.distributed:
        return module
    device = torch.device(device)
    if device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    elif shard.is_main and any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()
    ):
        warnings.warn(
            "BatchNorm on the CPU normalises each process's part of the batch on its own "
            "(PyTorch has no SyncBatchNorm for gloo), so the result differs slightly from a "
            "one-process run.",
            stacklevel=2,
        )
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        module, device_ids=device_ids, find_unused_parameters=find_unused
    )


class MethodCalls(nn.Module):
    """``forward(name, *args)`` calls ``objective.name(*args)``.

    A GAN's training steps are different methods of one objective (the discriminator's loss, the
    generator's losses); behind this one ``forward`` each step is a single call that
    DistributedDataParallel can wrap, with the unused player's parameters found and skipped.
    """

    def __init__(self, objective: nn.Module):
        super().__init__()
        self.objective = objective

    def forward(self, name: str, *args):
        return getattr(self.objective, name)(*args)


def mean_across(values: list[float], shard: Shard) -> list[float]:
    """Element-wise means of ``values`` over all processes (for losses recorded once per step)."""
    return [total / shard.world_size for total in sum_across(values, shard)]


def sum_across(values: list[float], shard: Shard) -> list[float]:
    """Element-wise sums of ``values`` over all processes
    (the values themselves when not distributed)."""
    if not shard.distributed:
        return values
    total = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(total)
    return total.tolist()


def average_across(
    tensors: tuple[torch.Tensor, ...], share: float, shard: Shard
) -> tuple[torch.Tensor, ...]:
    """Sum over processes of ``share * tensor``, ``share`` being this process's part of the batch.

    With shares that add up to 1 this is the batch-weighted mean of per-process means; for loops
    such as CD-k whose updates are not gradients of a loss, so DistributedDataParallel cannot help.
    """
    if not shard.distributed:
        return tensors
    reduced = tuple(t * share for t in tensors)
    for tensor in reduced:
        dist.all_reduce(tensor)
    return reduced


def gather_objects(value: object, shard: Shard) -> list[object]:
    """Every process's ``value``, in rank order (``[value]`` when not distributed).

    For what differs between processes and must be saved by rank 0: random states, image pools.
    """
    if not shard.distributed:
        return [value]
    gathered: list[object] = [None] * shard.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def wait_for_all(shard: Shard) -> None:
    """Hold every process here until all have arrived (nothing when not distributed)."""
    if shard.distributed:
        dist.barrier()
