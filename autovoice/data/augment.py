"""Data augmentation: gain, additive noise at a set SNR, speed perturbation, SpecAugment masks.

Pure functions; every random choice comes from the generator passed in. :func:`item_rng` derives
that generator from ``(seed, epoch, index)``, so an item is augmented the same way in any run,
worker or process, and differently in every epoch.
"""

from __future__ import annotations

import attrs
import numpy as np

from autovoice.audio.process import resample


def item_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator of one item in one epoch; ``stream`` separates independent uses (a dataset
    and the augmentation wrapping it) of the same item."""
    return np.random.default_rng([seed, epoch, index, stream])


def apply_gain(wave: np.ndarray, gain_db: float) -> np.ndarray:
    return np.asarray(wave * np.float32(10.0 ** (gain_db / 20.0)), dtype=np.float32)


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``wave`` plus white Gaussian noise whose power is ``snr_db`` below the signal's."""
    power = float(np.mean(wave.astype(np.float64) ** 2))
    if power <= 0.0:
        return wave.astype(np.float32)
    scale = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return np.asarray(wave + scale * rng.standard_normal(wave.shape), dtype=np.float32)


def change_speed(wave: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """Play ``factor`` times faster (tempo and pitch together), by resampling: the result has
    ``len(wave) / factor`` samples."""
    if factor <= 0:
        raise ValueError(f"speed factor must be > 0, got {factor}")
    return resample(wave, round(sample_rate * factor), sample_rate)


def mask_spans(
    mel: np.ndarray,
    rng: np.random.Generator,
    *,
    axis: int,
    count: int,
    max_width: int,
    fill: float,
) -> np.ndarray:
    """A copy of ``mel`` with ``count`` spans of 0..``max_width`` rows (axis 0) or frames (axis 1)
    set to ``fill``."""
    out = np.array(mel, copy=True)
    size = out.shape[axis]
    for _ in range(count):
        width = int(rng.integers(0, min(max_width, size) + 1))
        start = int(rng.integers(0, size - width + 1))
        index = [slice(None), slice(None)]
        index[axis] = slice(start, start + width)
        out[tuple(index)] = fill
    return out


@attrs.frozen(kw_only=True)
class WaveAugment:
    """Waveform augmentation settings; each step is applied with its own probability."""

    sample_rate: int
    gain_db: float = 0.0
    """Gain drawn uniformly from ``[-gain_db, gain_db]``; 0 disables."""
    noise_prob: float = 0.0
    snr_db: float = 20.0
    speed_prob: float = 0.0
    speed_min: float = 0.9
    speed_max: float = 1.1

    @property
    def active(self) -> bool:
        return self.gain_db > 0 or self.noise_prob > 0 or self.speed_prob > 0


def augment_wave(wave: np.ndarray, rng: np.random.Generator, settings: WaveAugment) -> np.ndarray:
    """Speed, then gain, then noise, as ``settings`` say; draws a fixed number of values from
    ``rng`` per step so that the steps do not shift each other's random streams."""
    out = wave
    speed_on = rng.random() < settings.speed_prob
    speed = rng.uniform(settings.speed_min, settings.speed_max)
    if speed_on:
        out = change_speed(out, speed, settings.sample_rate)
    gain = rng.uniform(-settings.gain_db, settings.gain_db)
    if settings.gain_db > 0:
        out = apply_gain(out, gain)
    noise_on = rng.random() < settings.noise_prob
    noise_rng = np.random.default_rng(rng.integers(0, 2**63))
    if noise_on:
        out = add_noise(out, settings.snr_db, noise_rng)
    return np.asarray(out, dtype=np.float32)


@attrs.frozen(kw_only=True)
class SpecAugment:
    """SpecAugment-style masking settings; counts of 0 disable a kind of mask."""

    time_masks: int = 0
    time_width: int = 20
    freq_masks: int = 0
    freq_width: int = 8

    @property
    def active(self) -> bool:
        return self.time_masks > 0 or self.freq_masks > 0


def spec_augment(
    mel: np.ndarray, rng: np.random.Generator, settings: SpecAugment, fill: float | None = None
) -> np.ndarray:
    """``mel`` ``(n_mels, frames)`` with frequency then time masks; ``fill`` defaults to the
    mel's mean."""
    value = float(mel.mean()) if fill is None else fill
    out = mask_spans(
        mel, rng, axis=0, count=settings.freq_masks, max_width=settings.freq_width, fill=value
    )
    return mask_spans(
        out, rng, axis=1, count=settings.time_masks, max_width=settings.time_width, fill=value
    )
