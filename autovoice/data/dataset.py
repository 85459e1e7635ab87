"""What a dataset plugin returns, and a subset view over one. Pure.

A dataset is map-style: ``len(ds)`` items, ``ds.item(index, epoch)`` a dict of numpy arrays (and
an ``id`` string). Everything random in an item comes from a generator derived from
``(seed, epoch, index)``; ``ds[index]`` uses the epoch last given to ``set_epoch``. Besides
items, a dataset tells the loader what it needs without loading anything: estimated lengths (mel
frames, for bucketing), durations (seconds), split keys (items sharing a key stay in one split)
and its :class:`DatasetInfo` (speakers, symbol table, corpus report).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import numpy as np

from autovoice.data.records import CorpusReport

Item = dict[str, Any]
WaveTransform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""Applied to each prepared waveform of an item before its features are computed."""


@attrs.frozen(kw_only=True)
class DatasetInfo:
    """What a model needs to know about its data: speakers, symbols, and the corpus report."""

    speakers: tuple[str, ...]
    """Speaker names; a speaker's id is its index."""
    symbols: Mapping[str, Any]
    """The symbol table, as ``SymbolTable.to_dict()`` writes it (travels with checkpoints)."""
    n_symbols: int
    report: CorpusReport
    unknown_symbols: Mapping[str, int] = attrs.field(factory=dict)
    """Characters of the corpus text the symbol table lacks, with their counts (dropped)."""

    @property
    def n_speakers(self) -> int:
        return len(self.speakers)


class ItemDataset(Protocol):
    """The interface every dataset plugin's dataset has."""

    info: DatasetInfo
    mel_keys: tuple[str, ...]
    """Keys of the mels that SpecAugment masking may apply to."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Item: ...

    def set_epoch(self, epoch: int) -> None: ...

    def item(self, index: int, epoch: int, transform: WaveTransform | None = None) -> Item: ...

    @property
    def lengths(self) -> np.ndarray: ...

    @property
    def durations(self) -> np.ndarray: ...

    @property
    def split_keys(self) -> Sequence[str]: ...

    def for_evaluation(self) -> ItemDataset:
        """The dataset to validate and test on (without training-only augmentation)."""
        ...


class EpochIndexed(abc.ABC):
    """The indexing every dataset shares: ``ds[index]`` is ``ds.item(index, epoch)`` for the
    epoch last given to :meth:`set_epoch`."""

    epoch: int

    @abc.abstractmethod
    def item(self, index: int, epoch: int, transform: WaveTransform | None = None) -> Item:
        """Item ``index`` as epoch ``epoch`` sees it (augmentation depends on the epoch)."""

    def __getitem__(self, index: int) -> Item:
        return self.item(index, self.epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class Subset(EpochIndexed):
    """The items ``indices`` of ``dataset``, renumbered from 0."""

    def __init__(self, dataset: ItemDataset, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.info = dataset.info
        self.mel_keys = dataset.mel_keys
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.indices)

    def item(self, index: int, epoch: int, transform: WaveTransform | None = None) -> Item:
        return self.dataset.item(int(self.indices[index]), epoch, transform)

    @property
    def lengths(self) -> np.ndarray:
        return np.asarray(self.dataset.lengths)[self.indices]

    @property
    def durations(self) -> np.ndarray:
        return np.asarray(self.dataset.durations)[self.indices]

    @property
    def split_keys(self) -> list[str]:
        keys = self.dataset.split_keys
        return [keys[i] for i in self.indices]

    def for_evaluation(self) -> Subset:
        return Subset(self.dataset.for_evaluation(), self.indices)
