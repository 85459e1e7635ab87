"""The ``augmented`` dataset: another dataset's items with gain, noise, speed perturbation and
SpecAugment masks.

Waveform changes (speed, gain, noise) are applied to the base dataset's prepared waveform before
its features are computed, so mels, audio segments and lengths stay consistent; masks are applied
to the base's mel keys (``mel`` for voice, ``source_mel`` for paired). Every random choice comes
from generators derived from ``(data.seed, epoch, index)``: the same item in the same epoch is
augmented identically in any process, and differently in the next epoch (``set_epoch``).
Validation and test use the base dataset unaugmented (:meth:`for_evaluation`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autovoice.config.schema import Config
from autovoice.config.structure import structure, unstructure
from autovoice.data.augment import SpecAugment, WaveAugment, augment_wave, item_rng, spec_augment
from autovoice.data.dataset import DatasetInfo, EpochIndexed, Item, ItemDataset, WaveTransform
from autovoice_datasets.options import AugmentedOptions

MASK_STREAM = 1
"""Random stream of the masks; the base dataset's generator (stream 0) drives waveform changes."""


class AugmentedDataset(EpochIndexed):
    """``base``'s items, augmented per (seed, epoch, index)."""

    def __init__(
        self, base: ItemDataset, *, seed: int, wave: WaveAugment, masks: SpecAugment
    ) -> None:
        self.base = base
        self.info: DatasetInfo = base.info
        self.mel_keys = base.mel_keys
        self.test_fraction = getattr(base, "test_fraction", None)
        self.seed = seed
        self.wave = wave
        self.masks = masks
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.base)

    @property
    def lengths(self) -> np.ndarray:
        return self.base.lengths

    @property
    def durations(self) -> np.ndarray:
        return self.base.durations

    @property
    def split_keys(self) -> Any:
        return self.base.split_keys

    def for_evaluation(self) -> ItemDataset:
        return self.base.for_evaluation()

    def _transform(self, outer: WaveTransform | None) -> WaveTransform | None:
        if not self.wave.active:
            return outer

        def transform(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            changed = augment_wave(wave, rng, self.wave)
            return changed if outer is None else outer(changed, rng)

        return transform

    def item(self, index: int, epoch: int, transform: WaveTransform | None = None) -> Item:
        out = self.base.item(index, epoch, self._transform(transform))
        if self.masks.active:
            rng = item_rng(self.seed, epoch, index, MASK_STREAM)
            for key in self.mel_keys:
                out[key] = spec_augment(out[key], rng, self.masks)
        return out


def _base_dataset(options: AugmentedOptions, config: Config, registry: Any) -> ItemDataset:
    if registry is None:
        from autovoice.plugins import Registry

        registry = Registry.discover()
    spec = registry.get("dataset", options.base)
    base_options = None
    if spec.options_type is not None:
        base_options = structure(
            unstructure(options.base_options), spec.options_type, "$.data.options.base_options"
        )
    dataset: ItemDataset = spec.create(base_options, config=config, registry=registry)
    return dataset


def create(options: AugmentedOptions, *, config: Config, registry: Any = None) -> AugmentedDataset:
    """The ``augmented`` dataset: ``options.base`` over ``config.data.corpus``, augmented."""
    wave = WaveAugment(
        sample_rate=config.audio.sample_rate,
        gain_db=options.gain_db,
        noise_prob=options.noise_prob,
        snr_db=options.snr_db,
        speed_prob=options.speed_prob,
        speed_min=options.speed_min,
        speed_max=options.speed_max,
    )
    masks = SpecAugment(
        time_masks=options.time_masks,
        time_width=options.time_mask_width,
        freq_masks=options.freq_masks,
        freq_width=options.freq_mask_width,
    )
    base = _base_dataset(options, config, registry)
    return AugmentedDataset(base, seed=config.data.seed, wave=wave, masks=masks)
