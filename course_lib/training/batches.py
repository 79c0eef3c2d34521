"""Device-resident training data: the fast path for data sets that fit in memory.

Every data set of the course (MNIST, the cartoon faces, the toy sets) fits in a few hundred MB,
so instead of a ``DataLoader`` that converts examples one by one and copies each batch to the
device, ``ResidentData`` moves the tensors to the device once and gathers shuffled minibatches
there with one indexing operation per batch. On the CPU it is the same code, and still avoids
per-example work and worker processes.

The shuffle is drawn from a CPU generator, so a seed gives the same batches on every device.
Under ``torchrun`` each process keeps the whole set and takes its ``Shard`` of every global
minibatch, so one process and N processes see the same global batches.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch

from course_lib.runtime.distributed import Shard


def as_tensors(data: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """``data`` as a tuple of tensors, which must all have the same length (an error if not)."""
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    lengths = [len(t) for t in tensors]
    if not tensors or len(set(lengths)) != 1:
        raise ValueError(f"All tensors must have the same length, got {lengths}.")
    return tensors


class ResidentData:
    """Equally long tensors held on ``device``, served as shuffled minibatches."""

    def __init__(
        self,
        data: torch.Tensor | Sequence[torch.Tensor],
        device: torch.device | str = "cpu",
        shard: Shard | None = None,
    ):
        self.tensors = tuple(t.to(device) for t in as_tensors(data))
        self.device = torch.device(device)
        self.shard = shard or Shard()

    def __len__(self) -> int:
        return len(self.tensors[0])

    def order(self, generator: torch.Generator) -> torch.Tensor:
        """A random permutation of the example indices, drawn on the CPU, placed on the device."""
        return torch.randperm(len(self), generator=generator).to(self.device)

    def full_batches(self, generator: torch.Generator, batch_size: int) -> torch.Tensor:
        """A new random order cut into full minibatches: (len // batch_size, batch_size) indices."""
        count = len(self) // batch_size
        return self.order(generator)[: count * batch_size].view(count, batch_size)

    def batches(self, generator: torch.Generator, batch_size: int) -> Iterator[torch.Tensor]:
        """Index tensors covering a new random order, ``batch_size`` at a time (the last may be
        short)."""
        return iter(self.order(generator).split(batch_size))

    def rows(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This process's share of the global minibatch ``index``, one tensor per data tensor."""
        local = self.shard.part(index)
        return tuple(t[local] for t in self.tensors)
