"""The pieces of a resumable dataloader: the batch sampler, the dataset adapter, the collate
function and the loader itself.

The sampler hands out ``(epoch, index)`` keys, so items are augmented for the right epoch even in
persistent worker processes; the loader advances the sampler's position as it hands batches to
the training loop, so ``state_dict()`` is exact while workers prefetch ahead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from autovoice.data.collate import collate
from autovoice.data.dataset import Item, ItemDataset
from autovoice.data.sampling import Batches, bucket_batches, shard, sorted_batches
from autovoice.errors import AutovoiceError

__all__ = ["BatchLoader", "BucketBatchSampler", "EpochDataset", "TorchCollate"]


class BucketBatchSampler:
    """Batches of ``(epoch, index)`` keys: length-bucketed and shuffled per epoch (``shuffle``),
    or sorted by length (evaluation); one rank's shard of them.

    ``position`` counts the batches of the current epoch already consumed; :class:`BatchLoader`
    advances it as it hands batches out, so ``state_dict()`` is exact even while workers prefetch.
    Consuming an epoch's last batch moves on to the next epoch. An evaluation sampler
    (``shuffle=False``) keeps no place: every pass starts at its first batch, in epoch 0.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        seed: int,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_remainder: bool = True,
        bucket_batches: int = 32,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.rank, self.world_size = rank, world_size
        self.drop_remainder = drop_remainder
        self.bucket_batches = bucket_batches
        self.epoch = 0
        self.position = 0
        self._plan: tuple[int, Batches] | None = None

    def plan(self, epoch: int) -> Batches:
        """This rank's batches of ``epoch`` (item indices)."""
        if self._plan is not None and self._plan[0] == epoch:
            return self._plan[1]
        if self.shuffle:
            rng = np.random.default_rng([self.seed, epoch])
            batches = bucket_batches(
                self.lengths, self.batch_size, rng, bucket_batches=self.bucket_batches
            )
        else:
            batches = sorted_batches(self.lengths, self.batch_size)
        mine = shard(batches, self.rank, self.world_size, drop_remainder=self.drop_remainder)
        self._plan = (epoch, mine)
        return mine

    def __len__(self) -> int:
        return len(self.plan(self.epoch))

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        if self.shuffle and self.position >= len(self.plan(self.epoch)):
            self.set_epoch(self.epoch + 1)  # a state saved right after an epoch's last batch
        epoch, start = self.epoch, self.position if self.shuffle else 0
        for batch in self.plan(epoch)[start:]:
            yield [(epoch, index) for index in batch]

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first batch."""
        self.epoch, self.position = epoch, 0

    def consumed(self) -> None:
        """One more batch of the current epoch has been handed to the training loop."""
        if not self.shuffle:
            return
        self.position += 1
        if self.position >= len(self.plan(self.epoch)):
            self.set_epoch(self.epoch + 1)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        if "seed" in state and int(state["seed"]) != self.seed:
            raise AutovoiceError(
                f"sampler state was saved with seed {state['seed']}, this run uses {self.seed}: "
                "resuming would visit different batches"
            )
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


class EpochDataset(Dataset[Item]):
    """A dataset plugin's dataset as a torch dataset indexed by ``(epoch, index)`` keys."""

    def __init__(self, dataset: ItemDataset) -> None:
        self.dataset = dataset
        self.info = dataset.info

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int] | int) -> Item:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        return self.dataset.item(index, epoch)


class TorchCollate:
    """:func:`autovoice.data.collate.collate`, then numpy arrays to torch tensors."""

    def __init__(self, mel_pad: float) -> None:
        self.mel_pad = mel_pad

    def __call__(self, items: Sequence[Item]) -> dict[str, Any]:
        batch = collate(items, mel_pad=self.mel_pad)
        return {
            k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in batch.items()
        }


class BatchLoader(DataLoader[Item]):
    """A DataLoader whose place in the epoch can be saved and restored exactly."""

    batch_sampler: BucketBatchSampler

    def __iter__(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        sampler = self.batch_sampler
        for batch in super().__iter__():
            sampler.consumed()
            yield batch

    def state_dict(self) -> dict[str, int]:
        return self.batch_sampler.state_dict()

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.batch_sampler.load_state_dict(state)

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)
