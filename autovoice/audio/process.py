"""Pure waveform processing: mono, resampling, level normalization and silence trimming.

Waveforms are float numpy arrays in [-1, 1]; multichannel audio is ``(samples, channels)`` as
soundfile returns it. Nothing here reads files or keeps state.
"""

from __future__ import annotations

import numpy as np
import soxr  # type: ignore[import-untyped]

from autovoice.config.schema import AudioConfig
from autovoice.errors import AutovoiceError

__all__ = [
    "AudioValueError",
    "frame_rms_db",
    "loudness_normalize",
    "peak_normalize",
    "prepare_waveform",
    "resample",
    "rms_dbfs",
    "to_mono",
    "trim_silence",
]

_SILENT = 1e-8  # an amplitude (RMS or peak) at or below this counts as silence: no gain applied


class AudioValueError(AutovoiceError, ValueError):
    """A waveform or an audio parameter that cannot be processed; the message says which."""


def _as_float(x: np.ndarray, name: str = "wave") -> np.ndarray:
    wave = np.asarray(x)
    if wave.dtype.kind != "f":
        wave = wave.astype(np.float32)
    if wave.size == 0:
        raise AudioValueError(f"{name} is empty (0 samples)")
    return wave


def to_mono(x: np.ndarray) -> np.ndarray:
    """``(samples,)`` unchanged, ``(samples, channels)`` averaged over channels; float32."""
    wave = _as_float(x)
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    elif wave.ndim != 1:
        raise AudioValueError(f"wave must be (samples,) or (samples, channels), got {wave.shape}")
    return np.ascontiguousarray(wave, dtype=np.float32)


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono waveform from ``orig_sr`` to ``target_sr`` Hz (soxr, HQ); float32."""
    if orig_sr <= 0 or target_sr <= 0:
        raise AudioValueError(f"sample rates must be > 0, got {orig_sr} -> {target_sr}")
    wave = to_mono(x)
    if orig_sr == target_sr:
        return wave
    out = soxr.resample(wave, orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


def peak_normalize(x: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale so that the largest absolute sample is ``peak``; silence is returned unscaled."""
    if not 0.0 < peak <= 1.0:
        raise AudioValueError(f"peak must be in (0, 1], got {peak}")
    wave = _as_float(x)
    top = float(np.max(np.abs(wave)))
    if top <= _SILENT:
        return wave.astype(np.float32)
    return (wave * (peak / top)).astype(np.float32)


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level in dB relative to full scale (a full-scale square wave is 0 dBFS)."""
    wave = _as_float(x).astype(np.float64)
    rms = float(np.sqrt(np.mean(wave * wave)))
    return 20.0 * float(np.log10(max(rms, _SILENT)))


def loudness_normalize(
    x: np.ndarray, target_dbfs: float = -20.0, *, peak_limit: float = 0.99
) -> np.ndarray:
    """Scale to an RMS level of ``target_dbfs`` (RMS, not LUFS: no K-weighting, no gating).

    The gain is capped so that no sample exceeds ``peak_limit``: a very peaky signal ends up
    quieter than the target rather than clipped. Silence is returned unscaled.
    """
    if target_dbfs > 0.0:
        raise AudioValueError(f"target_dbfs must be <= 0, got {target_dbfs}")
    if not 0.0 < peak_limit <= 1.0:
        raise AudioValueError(f"peak_limit must be in (0, 1], got {peak_limit}")
    wave = _as_float(x)
    w64 = wave.astype(np.float64)
    rms = float(np.sqrt(np.mean(w64 * w64)))
    top = float(np.max(np.abs(w64)))
    if rms <= _SILENT or top <= _SILENT:
        return wave.astype(np.float32)
    gain = min(float(10.0 ** (target_dbfs / 20.0)) / rms, peak_limit / top)
    return (w64 * gain).astype(np.float32)


def frame_rms_db(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """RMS in dB of frames starting every ``hop_length`` samples; the tail is zero-padded."""
    wave = to_mono(x).astype(np.float64)
    n_frames = 1 + max(0, -(-(wave.size - frame_length) // hop_length))
    starts = np.arange(n_frames) * hop_length
    energy = np.concatenate([[0.0], np.cumsum(wave * wave)])
    ends = np.minimum(starts + frame_length, wave.size)
    rms = np.sqrt((energy[ends] - energy[starts]) / frame_length)
    return np.asarray(20.0 * np.log10(np.maximum(rms, _SILENT)), dtype=np.float64)


def trim_silence(
    x: np.ndarray, top_db: float, frame_length: int = 1024, hop_length: int = 256
) -> tuple[np.ndarray, tuple[int, int]]:
    """Drop leading and trailing frames quieter than ``top_db`` below the loudest frame.

    Returns the kept waveform and its sample range ``(start, end)`` in ``x``. At least the
    loudest frame is kept; an all-silent input is returned whole.
    """
    if top_db <= 0:
        raise AudioValueError(f"top_db must be > 0, got {top_db}")
    if frame_length <= 0 or hop_length <= 0:
        raise AudioValueError(
            f"frame_length and hop_length must be > 0, got {frame_length}, {hop_length}"
        )
    wave = to_mono(x)
    level = frame_rms_db(wave, frame_length, hop_length)
    loud = np.flatnonzero(level > level.max() - top_db)
    if loud.size == 0:  # every frame equally silent
        return wave, (0, wave.size)
    start = int(loud[0]) * hop_length
    end = min(wave.size, int(loud[-1]) * hop_length + frame_length)
    return wave[start:end], (start, end)


def prepare_waveform(x: np.ndarray, sample_rate: int, audio: AudioConfig) -> np.ndarray:
    """Mono, resampled to ``audio.sample_rate``, trimmed and normalized as ``audio`` says."""
    wave = resample(to_mono(x), sample_rate, audio.sample_rate)
    if audio.trim_silence_db > 0:
        wave, _ = trim_silence(
            wave, audio.trim_silence_db, frame_length=audio.win_length, hop_length=audio.hop_length
        )
    if audio.normalize == "peak":
        return peak_normalize(wave)
    if audio.normalize == "loudness":
        return loudness_normalize(wave)
    if audio.normalize == "none":
        return wave
    raise AudioValueError(
        f"audio.normalize must be none, peak or loudness, got {audio.normalize!r}"
    )
