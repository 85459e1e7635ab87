"""The log-mel spectrogram, in plain numpy: the one reference definition of the features.

It follows HiFi-GAN's ``mel_spectrogram`` exactly, so that a model trained here and a vocoder
trained on HiFi-GAN features agree:

1. reflect-pad the waveform by ``(n_fft - hop_length) // 2`` on each side, no centering;
2. frames of ``n_fft`` samples every ``hop_length``, times a periodic Hann window of
   ``win_length`` zero-padded (centered) to ``n_fft``; real FFT;
3. magnitude ``sqrt(re² + im² + 1e-9)``;
4. mel = Slaney-scale, Slaney-normalized filterbank @ magnitude;
5. ``log(max(mel, log_clamp))``.

The torch twin (``autovoice.training.features.LogMel``) is held to this by a test.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from autovoice.audio.process import AudioValueError
from autovoice.config.schema import AudioConfig

__all__ = [
    "MAGNITUDE_EPS",
    "WaveTooShortError",
    "hann_window",
    "hz_to_mel",
    "log_mel",
    "mel_filterbank",
    "mel_params",
    "mel_to_hz",
    "min_samples",
    "num_frames",
    "stft_magnitude",
    "stft_padding",
]

MAGNITUDE_EPS = 1e-9  # added under the square root of the power, as HiFi-GAN does

# Slaney's mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3.0  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15 mel
_LOGSTEP = float(np.log(6.4) / 27.0)  # 27 mel per factor 6.4 above 1 kHz


class WaveTooShortError(AudioValueError):
    """A waveform too short to give a single feature frame."""


def hz_to_mel(hz: Any) -> np.ndarray:
    """Slaney mel of ``hz``: ``3 f / 200`` below 1 kHz, ``15 + 27 ln(f / 1000) / ln 6.4`` above."""
    f = np.asarray(hz, dtype=np.float64)
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.asarray(np.where(f < _MIN_LOG_HZ, f / _F_SP, log_part), dtype=np.float64)


def mel_to_hz(mel: Any) -> np.ndarray:
    """The inverse of :func:`hz_to_mel`."""
    m = np.asarray(mel, dtype=np.float64)
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.asarray(np.where(m < _MIN_LOG_MEL, m * _F_SP, log_part), dtype=np.float64)


@functools.lru_cache(maxsize=32)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float
) -> np.ndarray:
    """Triangular filters ``(n_mels, n_fft // 2 + 1)``, float32, read-only, cached.

    Edges are ``n_mels + 2`` points evenly spaced in Slaney mel from ``f_min`` to ``f_max``;
    filter ``i`` rises from edge ``i`` to 1 at edge ``i + 1`` and falls to 0 at edge ``i + 2``,
    then is scaled by ``2 / (edge[i + 2] - edge[i])`` (Slaney normalization: equal area).
    """
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise AudioValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2, got {f_min}, {f_max}, {sample_rate}"
        )
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    width = np.diff(edges)
    rising = (bins[None, :] - edges[:-2, None]) / width[:-1, None]
    falling = (edges[2:, None] - bins[None, :]) / width[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    bank: np.ndarray = weights.astype(np.float32)
    bank.setflags(write=False)
    return bank


@functools.lru_cache(maxsize=8)
def hann_window(win_length: int, n_fft: int) -> np.ndarray:
    """Periodic Hann window of ``win_length`` zero-padded (centered) to ``n_fft``; float32."""
    if not 0 < win_length <= n_fft:
        raise AudioValueError(f"need 0 < win_length <= n_fft, got {win_length}, {n_fft}")
    n = np.arange(win_length, dtype=np.float64)
    window = np.zeros(n_fft, dtype=np.float32)
    left = (n_fft - win_length) // 2
    window[left : left + win_length] = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    window.setflags(write=False)
    return window


def stft_padding(n_fft: int, hop_length: int) -> int:
    """Samples of reflect padding on each side: ``(n_fft - hop_length) // 2``."""
    return (n_fft - hop_length) // 2


def min_samples(n_fft: int, hop_length: int) -> int:
    """The shortest waveform that gives one frame (and that reflect padding accepts)."""
    pad = stft_padding(n_fft, hop_length)
    return max(n_fft - 2 * pad, pad + 1)


def num_frames(n_samples: int, hop_length: int, n_fft: int) -> int:
    """Frames from ``n_samples``: ``1 + (n_samples + 2 * pad - n_fft) // hop_length``.

    With ``pad = (n_fft - hop_length) // 2``; when ``n_fft - hop_length`` is even this is
    ``n_samples // hop_length``.
    """
    shortest = min_samples(n_fft, hop_length)
    if n_samples < shortest:
        raise WaveTooShortError(
            f"wave of {n_samples} samples is too short: at least {shortest} are needed "
            f"for one frame (n_fft={n_fft}, hop_length={hop_length})"
        )
    return 1 + (n_samples + 2 * stft_padding(n_fft, hop_length) - n_fft) // hop_length


def _as_wave(wave: np.ndarray) -> np.ndarray:
    x = np.asarray(wave)
    if x.ndim not in (1, 2):
        raise AudioValueError(f"wave must be (samples,) or (batch, samples), got {x.shape}")
    if not np.isfinite(x).all():
        raise AudioValueError("wave holds NaN or infinite samples")
    return x.astype(np.float64, copy=False)


def stft_magnitude(wave: np.ndarray, *, n_fft: int, hop_length: int, win_length: int) -> np.ndarray:
    """``sqrt(|STFT|² + 1e-9)`` of ``(samples,)`` or ``(batch, samples)``: ``(..., bins, frames)``.

    ``bins`` is ``n_fft // 2 + 1``; frames as :func:`num_frames` says.
    """
    x = _as_wave(wave)
    if not 0 < hop_length <= n_fft:
        raise AudioValueError(f"need 0 < hop_length <= n_fft, got {hop_length}, {n_fft}")
    num_frames(x.shape[-1], hop_length, n_fft)  # raises when too short
    pad = stft_padding(n_fft, hop_length)
    widths = [(0, 0)] * (x.ndim - 1) + [(pad, pad)]
    padded = np.pad(x, widths, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop_length, :]
    spectrum = np.fft.rfft(frames * hann_window(win_length, n_fft), axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    return np.swapaxes(np.sqrt(power + MAGNITUDE_EPS), -1, -2)


def log_mel(wave: np.ndarray, audio: AudioConfig) -> np.ndarray:
    """Log-mel of ``(samples,)`` or ``(batch, samples)`` with the settings of an ``[audio]``
    section: float32 ``(..., n_mels, frames)``, as the module docstring defines it."""
    if audio.log_clamp <= 0:
        raise AudioValueError(f"log_clamp must be > 0, got {audio.log_clamp}")
    magnitude = stft_magnitude(
        wave, n_fft=audio.n_fft, hop_length=audio.hop_length, win_length=audio.win_length
    )
    bank = mel_filterbank(
        audio.sample_rate, audio.n_fft, audio.n_mels, audio.f_min, audio.f_max
    ).astype(np.float64)
    mel = np.matmul(bank, magnitude)
    return np.asarray(np.log(np.maximum(mel, audio.log_clamp)), dtype=np.float32)


def mel_params(audio: AudioConfig) -> dict[str, Any]:
    """Every setting of ``audio`` that :func:`log_mel` reads, by name: a complete feature key."""
    return {
        "sample_rate": audio.sample_rate,
        "n_fft": audio.n_fft,
        "hop_length": audio.hop_length,
        "win_length": audio.win_length,
        "n_mels": audio.n_mels,
        "f_min": float(audio.f_min),
        "f_max": float(audio.f_max),
        "log_clamp": float(audio.log_clamp),
    }
