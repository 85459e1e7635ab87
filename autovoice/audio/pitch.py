"""Fundamental frequency (f0) per mel frame, in plain numpy: YIN with a voicing decision.

One f0 value per mel frame, 0.0 where the frame is unvoiced. All frames are analysed at once:

1. frame ``i`` is ``frame_length`` samples centred on sample ``i * hop_length + hop_length // 2``
   of the original signal (reflect-padded at the edges, zeros beyond one reflection), the same
   centre as mel frame ``i`` of :func:`autovoice.audio.features.log_mel`; a frame centred past
   the last sample is unvoiced;
2. difference function ``d(τ) = Σ_{j<W} (x_j - x_{j+τ})²`` from an FFT cross-correlation and
   cumulative energies, with ``W = frame_length - τ_max - 1``;
3. cumulative mean normalized difference ``d'(τ) = τ d(τ) / Σ_{k=1..τ} d(k)``, ``d'(0) = 1``;
4. absolute threshold: the first (shortest-lag) stretch of lags in ``[sr / f_max, sr / f_min]``
   where ``d'`` is below ``threshold``; its minimum is the period, refined by a parabola
   through ``d``; a frame with no such stretch is unvoiced;
5. energy gate: a frame more than ``energy_gate_db`` below the loudest frame is unvoiced;
6. a median over 5 frames within each voiced run removes isolated octave jumps.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from autovoice.audio.process import AudioValueError

__all__ = ["estimate_pitch", "pitch_stats"]

SMOOTH_WIDTH = 5  # frames in the median that smooths each voiced run
_SILENT_POWER = 1e-10  # mean square (-100 dBFS) at or below which a frame is silent


def estimate_pitch(
    wave: np.ndarray,
    *,
    sample_rate: int,
    hop_length: int,
    n_frames: int,
    f_min: float = 60.0,
    f_max: float = 500.0,
    threshold: float = 0.15,
    frame_length: int | None = None,
    energy_gate_db: float = 40.0,
) -> np.ndarray:
    """f0 in Hz of each of ``n_frames`` mel frames of a mono ``wave``; 0.0 where unvoiced.

    ``frame_length`` defaults to the smallest power of two holding two periods of ``f_min``.
    Frames centred past the end of ``wave`` are unvoiced: the result always has ``n_frames`` values.
    Returns float32 ``(n_frames,)``.
    """
    x = _check_wave(wave)
    tau_min, tau_max = _lag_range(sample_rate, f_min, f_max)
    length = _frame_length(frame_length, tau_max)
    _check_settings(hop_length, n_frames, threshold, energy_gate_db)
    if n_frames == 0 or x.size < 2:
        return np.zeros(n_frames, dtype=np.float32)
    frames = _frames(x, hop_length, n_frames, length)
    diff = _difference(frames, tau_max)
    tau, voiced = _pick_lag(_cmnd(diff), tau_min, tau_max, threshold)
    period = _refine(diff, tau)
    voiced &= _loud_enough(frames, energy_gate_db)
    voiced &= np.arange(n_frames) * hop_length + hop_length // 2 < x.size  # centre inside wave
    f0 = np.where(voiced, sample_rate / period, 0.0)
    return _smooth(f0, SMOOTH_WIDTH).astype(np.float32)


def pitch_stats(pitches: Iterable[np.ndarray]) -> tuple[float, float]:
    """Mean and standard deviation of ``log(f0)`` over the voiced (> 0) frames of ``pitches``."""
    count, mean, m2 = 0, 0.0, 0.0
    for index, f0 in enumerate(pitches):
        count, mean, m2 = _merge(count, mean, m2, _voiced_logs(f0, index))
    if count == 0:
        raise AudioValueError("no voiced frames (f0 > 0) in any pitch array: nothing to measure")
    return mean, float(np.sqrt(m2 / count))


def _voiced_logs(f0: np.ndarray, index: int) -> np.ndarray:
    values = np.asarray(f0, dtype=np.float64).ravel()
    if not (np.isfinite(values).all() and (values >= 0).all()):
        raise AudioValueError(f"pitch array {index} holds negative, NaN or infinite values")
    return np.log(values[values > 0])


def _merge(count: int, mean: float, m2: float, logs: np.ndarray) -> tuple[int, float, float]:
    """Chan et al.: running count, mean and sum of squared deviations, plus ``logs``."""
    if logs.size == 0:
        return count, mean, m2
    part_mean = float(logs.mean())
    part_m2 = float(((logs - part_mean) ** 2).sum())
    total = count + logs.size
    delta = part_mean - mean
    mean += delta * logs.size / total
    m2 += part_m2 + delta**2 * count * logs.size / total
    return total, mean, m2


def _check_wave(wave: np.ndarray) -> np.ndarray:
    x = np.asarray(wave)
    if x.ndim != 1:
        raise AudioValueError(f"wave must be mono (samples,), got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise AudioValueError(f"wave must hold numbers, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise AudioValueError("wave holds NaN or infinite samples")
    return x.astype(np.float64)


def _lag_range(sample_rate: int, f_min: float, f_max: float) -> tuple[int, int]:
    """Shortest and longest period searched, in samples."""
    if sample_rate <= 0:
        raise AudioValueError(f"sample_rate must be > 0, got {sample_rate}")
    if not 0 < f_min < f_max <= sample_rate / 4:
        raise AudioValueError(
            f"need 0 < f_min < f_max <= sample_rate / 4, got f_min={f_min}, f_max={f_max}, "
            f"sample_rate={sample_rate}"
        )
    return int(sample_rate // f_max), int(np.ceil(sample_rate / f_min))


def _frame_length(frame_length: int | None, tau_max: int) -> int:
    shortest = 2 * (tau_max + 1)
    if frame_length is None:
        return 1 << (shortest - 1).bit_length()
    if frame_length < shortest:
        raise AudioValueError(
            f"frame_length={frame_length} is too short for f_min: at least {shortest} samples "
            "(two periods of the lowest f0) are needed"
        )
    return frame_length


def _check_settings(hop_length: int, n_frames: int, threshold: float, gate_db: float) -> None:
    if hop_length <= 0:
        raise AudioValueError(f"hop_length must be > 0, got {hop_length}")
    if n_frames < 0:
        raise AudioValueError(f"n_frames must be >= 0, got {n_frames}")
    if not 0 < threshold < 1:
        raise AudioValueError(f"threshold must be in (0, 1), got {threshold}")
    if gate_db <= 0:
        raise AudioValueError(f"energy_gate_db must be > 0, got {gate_db}")


def _pad(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """Reflect-pad by up to ``len(x) - 1`` on each side, then zeros for the rest."""
    reflect = (min(left, x.size - 1), min(right, x.size - 1))
    padded = np.pad(x, reflect, mode="reflect")
    return np.pad(padded, (left - reflect[0], right - reflect[1]))


def _frames(x: np.ndarray, hop: int, n_frames: int, length: int) -> np.ndarray:
    """``(n_frames, length)``: frame ``i`` centred on ``i * hop + hop // 2``, its mean removed."""
    first = hop // 2 - length // 2  # start of frame 0 in the original signal
    left = max(0, -first)
    right = max(0, first + (n_frames - 1) * hop + length - x.size)
    padded = _pad(x, left, right)
    view = np.lib.stride_tricks.sliding_window_view(padded, length)
    frames = view[first + left :: hop][:n_frames]
    centred: np.ndarray = frames - frames.mean(axis=1, keepdims=True)
    return centred


def _difference(frames: np.ndarray, tau_max: int) -> np.ndarray:
    """YIN's ``d(τ)`` for ``τ = 0 .. τ_max + 1``: ``E(0) + E(τ) - 2 r(τ)``, ``(frames, τ_max + 2)``.

    The window ``W = length - τ_max - 1`` keeps every product inside the frame, so a circular
    correlation of ``length`` points has no wrap-around.
    """
    length = frames.shape[1]
    lags = tau_max + 2
    window = length - lags + 1
    head = np.fft.rfft(frames[:, :window], n=length, axis=1)
    whole = np.fft.rfft(frames, axis=1)
    corr = np.fft.irfft(np.conj(head) * whole, n=length, axis=1)[:, :lags]
    energy = np.cumsum(np.pad(frames**2, ((0, 0), (1, 0))), axis=1)
    shifted = energy[:, window : window + lags] - energy[:, :lags]
    diff = shifted[:, :1] + shifted - 2.0 * corr
    diff[:, 0] = 0.0
    return np.asarray(np.maximum(diff, 0.0))


def _cmnd(diff: np.ndarray) -> np.ndarray:
    """Cumulative mean normalized difference; 1 where the running mean is zero (silence)."""
    lags = np.arange(diff.shape[1], dtype=np.float64)
    running = np.cumsum(diff, axis=1)
    tiny = running <= 1e-12 * np.maximum(running[:, -1:], 1e-300)
    cmnd: np.ndarray = np.divide(diff * lags, running, out=np.ones_like(diff), where=~tiny)
    cmnd[:, 0] = 1.0
    return cmnd


def _pick_lag(
    cmnd: np.ndarray, tau_min: int, tau_max: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the lag of the lowest ``d'`` in the first run below ``threshold``, and voicing."""
    search = cmnd[:, tau_min : tau_max + 1]
    below = search < threshold
    voiced = below.any(axis=1)
    first = np.argmax(below, axis=1)[:, None]
    after = np.arange(search.shape[1])[None, :] >= first
    run = after & (np.cumsum(after & ~below, axis=1) == 0)
    tau = np.argmin(np.where(run, search, np.inf), axis=1) + tau_min
    return np.asarray(tau), np.asarray(voiced)


def _refine(diff: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Sub-sample period: the vertex of the parabola through ``d`` at ``τ - 1, τ, τ + 1``."""
    rows = np.arange(diff.shape[0])
    left, mid, right = diff[rows, tau - 1], diff[rows, tau], diff[rows, tau + 1]
    curve = left - 2.0 * mid + right
    shift = np.divide(0.5 * (left - right), curve, out=np.zeros_like(curve), where=curve > 0)
    return np.asarray(tau + np.clip(shift, -1.0, 1.0))


def _loud_enough(frames: np.ndarray, gate_db: float) -> np.ndarray:
    """Frames within ``gate_db`` of the loudest one and above digital silence."""
    power = np.mean(frames**2, axis=1)
    floor = max(float(power.max()) * 10.0 ** (-gate_db / 10.0), _SILENT_POWER)
    return np.asarray(power > floor)


def _smooth(f0: np.ndarray, width: int) -> np.ndarray:
    """Median of each voiced frame over the frames of its own voiced run within ``width``."""
    voiced = f0 > 0
    if not voiced.any():
        return f0
    half = width // 2
    run_id = np.cumsum(np.diff(voiced, prepend=False) & voiced)
    run_id = np.where(voiced, run_id, 0)
    values = np.lib.stride_tricks.sliding_window_view(np.pad(f0, half), width)[voiced]
    ids = np.lib.stride_tricks.sliding_window_view(np.pad(run_id, half), width)[voiced]
    same = ids == run_id[voiced][:, None]
    smoothed: np.ndarray = f0.copy()
    smoothed[voiced] = np.nanmedian(np.where(same, values, np.nan), axis=1)
    return smoothed
