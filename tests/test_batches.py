"""Device-resident data: every example once per epoch, deterministic by seed, rows of each part."""

from __future__ import annotations

import pytest
import torch

from course_lib.runtime.distributed import Shard
from course_lib.training.batches import ResidentData


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 8), (1, 1)])
def test_batches_cover_every_index_once(n, batch_size):
    batches = list(
        ResidentData(torch.zeros(n)).batches(torch.Generator().manual_seed(0), batch_size)
    )
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(n))
    sizes = [len(b) for b in batches]
    assert all(s == batch_size for s in sizes[:-1]) and 0 < sizes[-1] <= batch_size
    assert len(batches) == -(-n // batch_size)


def test_batches_are_deterministic_per_seed():
    data = ResidentData(torch.zeros(50))

    def draw(seed):
        return torch.cat(list(data.batches(torch.Generator().manual_seed(seed), 7)))

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))
    assert not torch.equal(draw(3), torch.arange(50))  # actually shuffled


def test_full_batches_drop_the_remainder_and_never_repeat_an_index():
    index = ResidentData(torch.zeros(23)).full_batches(torch.Generator().manual_seed(0), 5)
    assert index.shape == (4, 5)
    assert len(set(index.flatten().tolist())) == 20


def test_order_is_the_plain_randperm_of_the_generator():
    # The loops' results before ResidentData existed depended on exactly this order.
    order = ResidentData(torch.zeros(30)).order(torch.Generator().manual_seed(5))
    assert torch.equal(order, torch.randperm(30, generator=torch.Generator().manual_seed(5)))


def test_rows_gather_every_tensor_and_the_shards_partition_the_batch():
    images, labels = torch.arange(40.0).view(20, 2), torch.arange(20)
    index = torch.tensor([7, 3, 19, 0, 11])
    whole = ResidentData((images, labels)).rows(index)
    assert torch.equal(whole[0], images[index]) and torch.equal(whole[1], labels[index])
    parts = [ResidentData((images, labels), shard=Shard(rank, 2)).rows(index) for rank in range(2)]
    assert [len(p[1]) for p in parts] == [3, 2]
    assert torch.equal(torch.cat([p[1] for p in parts]), labels[index])


def test_tensors_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="same length"):
        ResidentData((torch.zeros(4), torch.zeros(5)))
