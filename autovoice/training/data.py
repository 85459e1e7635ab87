"""Dataloaders for training: the torch adapter over :mod:`autovoice.data`.

:func:`create_dataloaders` builds the configured dataset plugin, splits it deterministically and
returns ``{"train", "val", "test"}`` loaders of dict batches (torch tensors, plus ``ids``). The
train loader's batch sampler buckets by length, shards across ranks when distributed, and keeps
its place (epoch, batches consumed) in ``state_dict()`` so a resumed run continues mid-epoch with
exactly the batches it would have seen. The sampler hands out ``(epoch, index)`` keys, so items
are augmented for the right epoch even in persistent worker processes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from autovoice.config.schema import Config
from autovoice.config.structure import structure, unstructure
from autovoice.data.dataset import ItemDataset, Subset
from autovoice.data.splits import split_indices
from autovoice.errors import AutovoiceError
from autovoice.training.loader import BatchLoader, BucketBatchSampler, EpochDataset, TorchCollate

__all__ = [
    "BatchLoader",
    "BucketBatchSampler",
    "EpochDataset",
    "TorchCollate",
    "create_dataloaders",
    "get_dataset_stats",
    "preprocess_batch",
    "seed_worker",
]

DEFAULT_DATASET = "voice"


def seed_worker(worker_id: int) -> None:
    """Seed Python's and numpy's global generators in a worker from torch's per-worker seed
    (derived from the loader's generator), for any code that uses them."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def _world(distributed: bool, rank: int | None, world_size: int | None) -> tuple[int, int]:
    if not distributed:
        return 0, 1
    if rank is not None and world_size is not None:
        return rank, world_size
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise AutovoiceError(
            "distributed dataloaders need torch.distributed initialized, or rank and world_size"
        )
    return dist.get_rank(), dist.get_world_size()


def build_dataset(config: Config, registry: Any = None) -> ItemDataset:
    """The dataset plugin ``config.data.dataset`` names (voice when empty), over the corpus."""
    if registry is None:
        from autovoice.plugins import Registry

        registry = Registry.discover()
    spec = registry.get("dataset", config.data.dataset or DEFAULT_DATASET)
    options = config.data.options
    if spec.options_type is None:
        options = None
    elif isinstance(options, Mapping):
        options = structure(unstructure(options), spec.options_type, "$.data.options")
    dataset: ItemDataset = spec.create(options, config=config, registry=registry)
    return dataset


def _loader(
    dataset: ItemDataset, sampler: BucketBatchSampler, config: Config, rank: int
) -> BatchLoader:
    workers = config.data.num_workers
    return BatchLoader(
        EpochDataset(dataset),
        batch_sampler=sampler,
        collate_fn=TorchCollate(float(np.log(config.audio.log_clamp))),
        num_workers=workers,
        worker_init_fn=seed_worker if workers else None,
        generator=torch.Generator().manual_seed(config.data.seed + rank),
        persistent_workers=workers > 0,
    )


def create_dataloaders(
    config: Config,
    distributed: bool = False,
    registry: Any = None,
    *,
    rank: int | None = None,
    world_size: int | None = None,
) -> dict[str, BatchLoader]:
    """``{"train", "val", "test"}`` loaders over the configured dataset and corpus.

    Splits follow ``data.val_fraction`` (test: the dataset's ``test_fraction`` option, else the
    same fraction) and ``data.seed``. With ``distributed``, each rank (from torch.distributed
    unless given) gets a disjoint shard of the training batches and an equal share of the others.
    """
    dataset = build_dataset(config, registry)
    test_fraction = getattr(dataset, "test_fraction", None)
    splits = split_indices(
        dataset.split_keys,
        val_fraction=config.data.val_fraction,
        test_fraction=config.data.val_fraction if test_fraction is None else test_fraction,
        seed=config.data.seed,
    )
    rank, world_size = _world(distributed, rank, world_size)
    batch_size = config.training.batch_size
    loaders = {}
    for name, indices in splits.as_dict().items():
        train = name == "train"
        view = Subset(dataset if train else dataset.for_evaluation(), indices)
        sampler = BucketBatchSampler(
            view.lengths,
            batch_size,
            seed=config.data.seed,
            shuffle=train,
            rank=rank,
            world_size=world_size,
            drop_remainder=train,
        )
        loaders[name] = _loader(view, sampler, config, rank)
    return loaders


MEL_KEYS = ("mels", "target_mels", "source_mels", "audio_mels")
"""Batch entries holding log-mels ``(B, n_mels, T)``."""


def _stem(key: str) -> str:
    return key[:-1]


def _scale(mels: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    span = torch.clamp(high - low, min=1e-5)[None, :, None]
    return torch.clamp(2.0 * (mels - low[None, :, None]) / span - 1.0, -1.0, 1.0)


def _sample_stats(mels: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-item mean and standard deviation of a mel over its real frames."""
    weight = mask[:, None, :].to(mels.dtype).expand_as(mels)
    count = weight.sum(dim=(1, 2)).clamp(min=1.0)
    mean = (mels * weight).sum(dim=(1, 2)) / count
    var = (((mels - mean[:, None, None]) ** 2) * weight).sum(dim=(1, 2)) / count
    return mean, var.sqrt()


def preprocess_batch(
    batch: Mapping[str, Any],
    device: torch.device | str,
    normalize: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A batch ready for a model: tensors on ``device``; with ``normalize`` (the statistics of
    :func:`get_dataset_stats`), every mel scaled per band from ``[mel_min, mel_max]`` to
    ``[-1, 1]`` (padding at -1) and audio clipped to ``[-1, 1]``; plus ``<mel>_sample_mean`` and
    ``<mel>_sample_std`` (B,) of each mel over its real frames."""
    out = {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }
    for key in MEL_KEYS:
        if key not in out:
            continue
        mask = out.get(f"{_stem(key)}_mask")
        if mask is None:
            mask = torch.ones(out[key].shape[0], out[key].shape[-1], dtype=torch.bool)
            mask = mask.to(out[key].device)
        if normalize is not None:
            low = torch.as_tensor(np.asarray(normalize["mel_min"]), dtype=torch.float32)
            high = torch.as_tensor(np.asarray(normalize["mel_max"]), dtype=torch.float32)
            scaled = _scale(out[key].float(), low.to(out[key].device), high.to(out[key].device))
            out[key] = scaled.masked_fill(~mask[:, None, :], -1.0)
        mean, std = _sample_stats(out[key].float(), mask)
        out[f"{_stem(key)}_sample_mean"], out[f"{_stem(key)}_sample_std"] = mean, std
    if normalize is not None and "audio" in out:
        out["audio"] = torch.clamp(out["audio"], -1.0, 1.0)
    return out


def _length_stats(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"min": 0.0, "mean": 0.0, "max": 0.0}
    return {"min": float(values.min()), "mean": float(values.mean()), "max": float(values.max())}


def _main_mel(batch: Mapping[str, Any]) -> str:
    for key in MEL_KEYS[:3]:
        if key in batch:
            return key
    raise AutovoiceError(f"batch has no mel entry (keys: {', '.join(sorted(batch))})")


class _MelMoments:
    """Running per-band count, sum, sum of squares, min and max over real frames."""

    def __init__(self) -> None:
        self.count = 0
        self.total: np.ndarray | None = None
        self.squares: np.ndarray | None = None
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None

    def add(self, mels: np.ndarray, lengths: np.ndarray) -> None:
        frames = np.concatenate([m[:, :n] for m, n in zip(mels, lengths, strict=True)], axis=1)
        frames = frames.astype(np.float64)
        self.count += frames.shape[1]
        total, squares = frames.sum(1), (frames**2).sum(1)
        low, high = frames.min(1), frames.max(1)
        if self.total is None or self.squares is None or self.low is None or self.high is None:
            self.total, self.squares, self.low, self.high = total, squares, low, high
            return
        self.total, self.squares = self.total + total, self.squares + squares
        self.low, self.high = np.minimum(self.low, low), np.maximum(self.high, high)

    def result(self) -> dict[str, np.ndarray]:
        if self.total is None or self.squares is None or self.low is None or self.high is None:
            raise AutovoiceError("no frames to compute mel statistics from (empty split)")
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.squares / self.count - mean**2, 0.0))
        as32 = {"mel_mean": mean, "mel_std": std, "mel_min": self.low, "mel_max": self.high}
        return {k: v.astype(np.float32) for k, v in as32.items()}


def get_dataset_stats(dataloader: BatchLoader, max_batches: int | None = None) -> dict[str, Any]:
    """Hours, utterances, speakers, length statistics and per-band mel mean, std, min and max of
    a loader's split, computed on its unaugmented items in a separate pass (the loader's own
    position is left as it was). ``max_batches`` limits the pass to a sample."""
    view: ItemDataset = dataloader.dataset.dataset  # type: ignore[attr-defined]
    clean = view.for_evaluation()
    sampler = BucketBatchSampler(
        clean.lengths, dataloader.batch_sampler.batch_size, seed=0, shuffle=False
    )
    loader = DataLoader(
        EpochDataset(clean),
        batch_sampler=sampler,
        collate_fn=dataloader.collate_fn,
        num_workers=dataloader.num_workers,
        worker_init_fn=dataloader.worker_init_fn,
    )
    moments, mel_lengths, token_lengths, speakers = _MelMoments(), [], [], set()
    for number, batch in enumerate(loader):
        if max_batches is not None and number >= max_batches:
            break
        key = _main_mel(batch)
        lengths = batch[f"{_stem(key)}_lengths"].numpy()
        moments.add(batch[key].numpy(), lengths)
        mel_lengths.append(lengths)
        if "token_lengths" in batch:
            token_lengths.append(batch["token_lengths"].numpy())
        for name in ("speakers", "source_speakers", "target_speakers"):
            if name in batch:
                speakers.update(batch[name].numpy().tolist())
    stats: dict[str, Any] = {
        "utterances": len(clean),
        "hours": float(np.sum(clean.durations)) / 3600.0,
        "speakers": len(speakers),
        "mel_lengths": _length_stats(np.concatenate(mel_lengths) if mel_lengths else np.array([])),
        "frames": moments.count,
    }
    if token_lengths:
        stats["token_lengths"] = _length_stats(np.concatenate(token_lengths))
    return {**stats, **moments.result()}
