"""ConcatBatchSampler: batch composition, epoch length, reshuffling, and sharding across processes."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from desed_task.data import ConcatBatchSampler

SIZES = [30, 50, 40, 100]
BATCH = [3, 4, 6, 8]
OFFSETS = [0, 30, 80, 120]


def _subset_of(index: int) -> int:
    return max(i for i, offset in enumerate(OFFSETS) if index >= offset)


def test_batches_hold_fixed_numbers_from_each_subset_in_order():
    sampler = ConcatBatchSampler(SIZES, BATCH, seed=1)
    batches = list(sampler)
    assert len(sampler) == len(batches) == min(n // b for n, b in zip(SIZES, BATCH)) == 6
    for batch in batches:
        assert [_subset_of(i) for i in batch] == [0] * 3 + [1] * 4 + [2] * 6 + [3] * 8
    flat = [i for batch in batches for i in batch]
    assert len(flat) == len(set(flat))  # no clip twice in an epoch


def test_each_subset_has_its_own_order_and_epochs_reshuffle():
    sampler = ConcatBatchSampler([20, 20], [2, 2], seed=3)
    first = list(sampler)
    assert [b[:2] for b in first] != [[i - 20 for i in b[2:]] for b in first]
    assert list(sampler) == first  # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) != first
    again = ConcatBatchSampler([20, 20], [2, 2], seed=3)
    again.set_epoch(1)
    assert list(again) == list(sampler)
    ordered = list(ConcatBatchSampler([4, 6], [2, 3], shuffle=False))
    assert ordered == [[0, 1, 4, 5, 6], [2, 3, 7, 8, 9]]


def test_shards_are_disjoint_and_cover_n_times_the_data():
    single = ConcatBatchSampler(SIZES, BATCH, seed=5)
    ranks = [ConcatBatchSampler(SIZES, BATCH, seed=5, rank=r, world_size=2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == min((n // 2) // b for n, b in zip(SIZES, BATCH)) == 3
    items = [{i for batch in sampler for i in batch} for sampler in ranks]
    assert not items[0] & items[1]
    assert len(single) == 6  # one process: 6 steps; two processes: 3 steps each, of different clips


def test_drop_last_false_tops_up_the_last_batch():
    sampler = ConcatBatchSampler([5, 9], [2, 3], shuffle=False, drop_last=False)
    batches = list(sampler)
    assert len(sampler) == len(batches) == 3
    assert batches[-1] == [4, 0, 11, 12, 13]


def test_errors_are_clear():
    with pytest.raises(ValueError, match=r"subset 2 holds 5 clips \(5 per process\) for a batch of 6"):
        ConcatBatchSampler([30, 30, 5, 30], [3, 3, 6, 3])
    with pytest.raises(ValueError, match="2 per process"):
        ConcatBatchSampler([4], [3], world_size=2)
    with pytest.raises(ValueError, match="one number per subset"):
        ConcatBatchSampler([4, 4], [1])
    with pytest.raises(ValueError, match="rank 2"):
        ConcatBatchSampler([4], [1], rank=2, world_size=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        sampler = ConcatBatchSampler(SIZES, BATCH, seed=42, rank=dist.get_rank(), world_size=dist.get_world_size())
        epochs = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            epochs.append(list(sampler))
        gathered = [None] * world_size
        dist.all_gather_object(gathered, epochs)
        if rank == 0:
            torch.save(gathered, out)
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_ranks_get_different_batches(tmp_path):
    out = tmp_path / "batches.pt"
    # fork: the children inherit the imported modules, which keeps this test to about a second
    mp.start_processes(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True, start_method="fork")
    per_rank = torch.load(out)  # [rank][epoch][batch]
    assert len(per_rank) == 2
    for epoch in range(2):
        a, b = per_rank[0][epoch], per_rank[1][epoch]
        assert len(a) == len(b) > 0
        assert all(x != y for x, y in zip(a, b))
        assert not {i for batch in a for i in batch} & {i for batch in b for i in batch}
    assert per_rank[0][0] != per_rank[0][1]  # reseeded per epoch
