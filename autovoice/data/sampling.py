"""Planning batches: length bucketing, random batching, sharding across ranks. Pure functions.

Length bucketing shuffles the items, cuts the shuffled order into buckets of
``batch_size * bucket_batches`` items, sorts each bucket by length and cuts it into batches, then
shuffles the batches: items of a batch have similar lengths (little padding) while every epoch
still mixes the corpus differently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Batches = list[list[int]]


def _chunks(order: np.ndarray, size: int) -> Batches:
    return [order[i : i + size].tolist() for i in range(0, len(order), size)]


def _check(batch_size: int) -> None:
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")


def random_batches(n: int, batch_size: int, rng: np.random.Generator) -> Batches:
    """Batches of a random permutation of ``range(n)``, lengths ignored."""
    _check(batch_size)
    return _chunks(rng.permutation(n), batch_size)


def bucket_batches(
    lengths: Sequence[int] | np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    *,
    bucket_batches: int = 32,
) -> Batches:
    """Shuffled, length-bucketed batches over ``range(len(lengths))``; every index once."""
    _check(batch_size)
    sizes = np.asarray(lengths)
    order = rng.permutation(len(sizes))
    bucket = batch_size * max(1, bucket_batches)
    batches: Batches = []
    for start in range(0, len(order), bucket):
        members = order[start : start + bucket]
        members = members[np.argsort(sizes[members], kind="stable")]
        batches += _chunks(members, batch_size)
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: Sequence[int] | np.ndarray, batch_size: int) -> Batches:
    """Deterministic batches of items sorted by length (ties by index), for evaluation."""
    _check(batch_size)
    return _chunks(np.argsort(np.asarray(lengths), kind="stable"), batch_size)


def shard(batches: Batches, rank: int, world_size: int, *, drop_remainder: bool) -> Batches:
    """The batches of one rank: every ``world_size``-th, starting at ``rank``.

    Every rank gets the same number of batches: the remainder is dropped (``drop_remainder``:
    ranks see disjoint data) or filled by repeating the first batches (every item is seen).
    """
    if world_size <= 0 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank {rank} of {world_size}")
    if world_size == 1:
        return list(batches)
    extra = len(batches) % world_size
    if drop_remainder:
        usable = batches[: len(batches) - extra]
    else:
        fill = (world_size - extra) % world_size
        usable = list(batches) + [batches[i % len(batches)] for i in range(fill)] if batches else []
    return usable[rank::world_size]


def padding_fraction(batches: Batches, lengths: Sequence[int] | np.ndarray) -> float:
    """Share of padded positions over all batches: ``1 - sum(len) / sum(batch * max len)``."""
    sizes = np.asarray(lengths)
    real = padded = 0
    for batch in batches:
        items = sizes[batch]
        real += int(items.sum())
        padded += int(items.max(initial=0)) * len(batch)
    return 0.0 if padded == 0 else 1.0 - real / padded
