"""Griffin-Lim: a waveform from a log-mel with no trained vocoder (numpy only, no torch).

The log-mel of :mod:`autovoice.audio.features` is inverted to a linear magnitude through the
pseudo-inverse of the mel filterbank (clipped at zero), then a phase is found by the fast
Griffin-Lim iteration (Perraudin et al., 2013; momentum 0.99) between an inverse STFT and an STFT
with the same Hann window, hop and padding as the features. The spectral envelope is as exact as
the mel allows, so speech stays intelligible; the phase is not, so it sounds phasey.

Spectra are complex64 and waveforms float32; only the forward FFT runs in float64, a chunk of
frames at a time (numpy's float32 forward FFT is several times slower than its float64 one).
Buffers are allocated once per call and reused by every iteration.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypedDict

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.audio import projections
from autovoice.audio.features import hann_window, mel_filterbank, stft_padding
from autovoice.audio.phase import peak_locked_phase
from autovoice.audio.process import AudioValueError
from autovoice.audio.stft import Synthesis, stacked_spectrum
from autovoice.config.fields import Check, ge, one_of, setting
from autovoice.config.schema import AudioConfig

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "MOMENTUM",
    "GriffinLimOptions",
    "PhaseSearch",
    "decimated_window",
    "griffin_lim",
    "griffin_lim_magnitude",
    "griffin_lim_spectrum",
    "mel_to_magnitude",
    "spectral_convergence",
    "stft_magnitude",
]

Floats = npt.NDArray[np.float32]
Spectrum = npt.NDArray[np.complex64]
_TINY = np.float32(1e-8)
BLEND = (0.75, 0.85)
"""Band-limited projections: the fractions of the low band's top frequency between which the
phase they find gives way to the spectrum's own (a linear blend of the unit phasors)."""


MOMENTUM = Check("in [0, 1)", lambda v: 0.0 <= v < 1.0)
"""The check of a fast Griffin-Lim momentum setting."""
INITS = ("random", "locked")
"""Where Griffin-Lim may start: random phases, or the peak-locked phase of the magnitude."""


@attrs.frozen(kw_only=True)
class GriffinLimOptions:
    """The settings of a Griffin-Lim vocoder (a voice bundle's ``$.vocoder.options``)."""

    iterations: int = setting(
        32, doc="Phase-retrieval iterations: more sound cleaner and cost more.", checks=[ge(0)]
    )
    momentum: float = setting(
        0.99,
        doc="Momentum of the fast Griffin-Lim iteration (0: the plain algorithm).",
        checks=[MOMENTUM],
    )
    seed: int = setting(0, doc="Seed of the initial random phases.", checks=[ge(0)])
    init: str = setting(
        "random",
        doc='Where the iteration starts: "random" phases (drawn from seed), or "locked", the '
        "phase a peak-locked phase vocoder makes from the magnitude (reaches in about half "
        "the iterations what random phases do).",
        checks=[one_of(*INITS)],
    )


@functools.lru_cache(maxsize=8)
def _mel_inverse(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> Floats:
    """``(n_mels, n_fft // 2 + 1)``: the transposed pseudo-inverse of the filterbank, read-only."""
    bank = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max).astype(np.float64)
    inverse = np.ascontiguousarray(np.linalg.pinv(bank).T, dtype=np.float32)
    inverse.setflags(write=False)
    return inverse


def _check_mel(log_mel: Any, n_mels: int) -> Floats:
    mel = np.asarray(log_mel, dtype=np.float32)
    if mel.ndim not in (2, 3) or mel.shape[-2] != n_mels or mel.shape[-1] < 1:
        raise AudioValueError(
            f"log_mel: expected (n_mels={n_mels}, frames) or (batch, {n_mels}, frames) with "
            f"frames >= 1, got shape {mel.shape}"
        )
    if not np.isfinite(mel).all():
        raise AudioValueError("log_mel: holds NaN or infinite values")
    return mel


def mel_to_magnitude(log_mel: Any, audio: AudioConfig) -> Floats:
    """``(..., n_mels, frames)`` log-mel of ``audio``'s settings to a ``(..., n_fft // 2 + 1,
    frames)`` linear magnitude (float32, >= 0)."""
    mel = np.exp(_check_mel(log_mel, audio.n_mels))
    inverse = _mel_inverse(
        audio.sample_rate, audio.n_fft, audio.n_mels, float(audio.f_min), float(audio.f_max)
    )
    magnitude = np.swapaxes(np.swapaxes(mel, -1, -2) @ inverse, -1, -2)
    return np.maximum(magnitude, 0.0).astype(np.float32, copy=False)


# -- STFT pair (frames on the second-to-last axis, bins last) -----------------------------------


def stft_magnitude(wave: Any, *, n_fft: int, hop_length: int, win_length: int) -> Floats:
    """``(..., bins, frames)`` magnitude of ``(..., frames * hop_length)`` samples, framed as
    :func:`griffin_lim` frames them (for measuring its output against a target)."""
    samples = np.asarray(wave, dtype=np.float64)
    left = stft_padding(n_fft, hop_length)
    pads = [(0, 0)] * (samples.ndim - 1) + [(left, n_fft - hop_length - left)]
    padded = np.pad(samples, pads, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop_length, :]
    spectrum = np.fft.rfft(frames * hann_window(win_length, n_fft), axis=-1)
    magnitude: Floats = np.abs(spectrum).swapaxes(-1, -2).astype(np.float32)
    return magnitude


def spectral_convergence(magnitude: Any, target: Any) -> float:
    """``||magnitude - target|| / ||target||`` (Frobenius): 0 for a perfect match."""
    diff = np.asarray(magnitude, np.float64) - np.asarray(target, np.float64)
    return float(np.linalg.norm(diff) / max(float(np.linalg.norm(target)), 1e-12))


# -- the iteration ------------------------------------------------------------------------------


def _check_settings(n_fft: int, hop_length: int, iterations: int, momentum: float) -> None:
    for name, value in (("n_fft", n_fft), ("hop_length", hop_length), ("iterations", iterations)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise AudioValueError(f"{name}: expected an integer, got {value!r}")
    if hop_length < 1 or hop_length > n_fft:
        raise AudioValueError(
            f"hop_length: need 1 <= hop_length <= n_fft ({n_fft}), got {hop_length}"
        )
    if iterations < 0:
        raise AudioValueError(f"iterations: must be >= 0, got {iterations}")
    if not 0.0 <= float(momentum) < 1.0:
        raise AudioValueError(f"momentum: must be in [0, 1), got {momentum!r}")


def _locked_phase(stacked: Floats, n_fft: int, hop_length: int) -> Spectrum:
    """Unit phasors ``(batch, frames, bins)`` of each item's peak-locked phase."""
    angles = np.stack([peak_locked_phase(item.T, hop_length, n_fft).T for item in stacked]).astype(
        np.float32
    )
    return (np.cos(angles) + 1j * np.sin(angles)).astype(np.complex64)


def _initial_phase(shape: tuple[int, ...], rng: np.random.Generator) -> Spectrum:
    """Unit phasors of uniform angles, ``(batch, frames, bins)``: one draw shared by the items,
    so frame ``t`` starts alike in every item and whatever the number of frames after it."""
    angles = rng.random(shape[1:], dtype=np.float32) * np.float32(2.0 * np.pi)
    phase = (np.cos(angles) + 1j * np.sin(angles)).astype(np.complex64)
    return np.broadcast_to(phase, shape)


def _search(
    magnitude: Floats,
    phase: Spectrum,
    framing: tuple[int, int, Floats],
    iterations: int,
    momentum: float,
    *,
    free: bool = False,
    workers: int = 1,
) -> Spectrum:
    """The fast Griffin-Lim iteration from ``phase`` on the STFT ``framing`` ``(n_fft, hop,
    window)``, its frames split between up to ``workers`` threads
    (:mod:`autovoice.audio.projections`): the spectrum whose inverse STFT is its result."""
    n_fft, hop, window = framing
    if iterations == 0:
        start: Spectrum = magnitude * phase
        return start
    split = projections.parts(magnitude.shape, n_fft, hop, window, free=free, workers=workers)
    return projections.search(magnitude, phase, split, iterations, momentum)


def _invert(spectrum: Spectrum, n_fft: int, hop: int, window: Floats) -> Floats:
    """The inverse STFT of ``(batch, frames, bins)``: ``(batch, frames * hop)``."""
    batch, count, _ = spectrum.shape
    wave = np.empty((batch, count * hop), np.float32)
    return Synthesis(batch, count, n_fft, hop, window)(spectrum, out=wave)


class PhaseSearch(TypedDict, total=False):
    """How Griffin-Lim searches for a phase: the keyword arguments of
    :func:`griffin_lim_magnitude` after the STFT settings, which :func:`griffin_lim` passes on."""

    iterations: int
    momentum: float
    rng: np.random.Generator | None
    init: str
    workers: int


def griffin_lim(log_mel: Any, audio: AudioConfig, **search: Unpack[PhaseSearch]) -> Floats:
    """Float32 waveform(s) for a ``(n_mels, frames)`` or ``(batch, n_mels, frames)`` log-mel of
    ``audio``'s settings: ``(frames * hop_length,)`` or ``(batch, frames * hop_length)``, the
    phase searched as ``search`` says (:func:`griffin_lim_magnitude`)."""
    magnitude = mel_to_magnitude(log_mel, audio)
    n_fft, hop_length, win_length = audio.n_fft, audio.hop_length, audio.win_length
    return griffin_lim_magnitude(
        magnitude, n_fft=n_fft, hop_length=hop_length, win_length=win_length, **search
    )


def griffin_lim_magnitude(
    magnitude: Any,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int,
    iterations: int = 32,
    momentum: float = 0.99,
    rng: np.random.Generator | None = None,
    init: str = "random",
    workers: int = 1,
) -> Floats:
    """Float32 waveform(s) whose STFT magnitude is near ``magnitude``, a ``(n_fft // 2 + 1,
    frames)`` or ``(batch, n_fft // 2 + 1, frames)`` linear magnitude (a magnitude vocoder's
    output): ``(frames * hop_length,)`` or ``(batch, frames * hop_length)``.

    ``rng`` draws the initial phases (None: ``numpy.random.default_rng(0)``, so the result is
    reproducible); ``init="locked"`` starts from the magnitude's peak-locked phase instead.
    ``workers`` threads split the iteration's frames between them
    (:mod:`autovoice.audio.projections`); the result is the same for any number of them."""
    _check_settings(n_fft, hop_length, iterations, momentum)
    target = np.asarray(magnitude, dtype=np.float32)
    bins = n_fft // 2 + 1
    if target.ndim not in (2, 3) or target.shape[-2] != bins or target.shape[-1] < 1:
        raise AudioValueError(
            f"magnitude: expected (bins={bins}, frames) or (batch, {bins}, frames) with "
            f"frames >= 1, got shape {target.shape}"
        )
    if not np.isfinite(target).all() or (target < 0).any():
        raise AudioValueError("magnitude: holds negative, NaN or infinite values")
    single = target.ndim == 2
    stacked = np.ascontiguousarray(np.swapaxes(target[None] if single else target, -1, -2))
    if init not in INITS:
        raise AudioValueError(f"init: must be one of {', '.join(INITS)}, got {init!r}")
    if init == "locked":
        phase = _locked_phase(stacked, n_fft, hop_length)
    else:
        generator = rng if rng is not None else np.random.default_rng(0)
        phase = _initial_phase(stacked.shape, generator)
    window = hann_window(win_length, n_fft)
    framing = (n_fft, hop_length, window)
    found = _search(stacked, phase, framing, iterations, float(momentum), workers=workers)
    wave = _invert(found, *framing)
    return wave[0] if single else wave


def _unit(spectrum: Spectrum) -> Spectrum:
    """Unit phasors of ``spectrum`` (1 where it is zero)."""
    size = np.abs(spectrum).astype(np.float32, copy=False)
    phase: Spectrum = np.divide(spectrum, np.maximum(size, _TINY), dtype=np.complex64)
    phase[size <= _TINY] = 1.0
    return phase


def decimated_window(decimation: int, *, n_fft: int, hop_length: int, win_length: int) -> Floats:
    """The window of the framing at ``1 / decimation`` of the sample rate, which band-limited
    projections (:func:`griffin_lim_spectrum`) use; an :class:`AudioValueError` when the framing
    does not decimate: its frame, hop, window and padding must be whole samples at the lower
    rate, and the decimated window the lower rate's own."""
    if isinstance(decimation, bool) or not isinstance(decimation, (int, np.integer)):
        raise AudioValueError(f"decimation: expected an integer, got {decimation!r}")
    if decimation < 1:
        raise AudioValueError(f"decimation: must be >= 1, got {decimation}")
    d = int(decimation)
    whole = (
        n_fft % d == 0
        and hop_length % d == 0
        and win_length % d == 0
        and stft_padding(n_fft // d, hop_length // d) * d == stft_padding(n_fft, hop_length)
        and n_fft // d >= 2
    )
    window = hann_window(win_length // d, n_fft // d) if whole else None
    if window is None or not np.allclose(window, hann_window(win_length, n_fft)[::d], atol=1e-6):
        raise AudioValueError(
            f"decimation: {d} does not divide the framing (n_fft {n_fft}, hop_length "
            f"{hop_length}, win_length {win_length}, padding {stft_padding(n_fft, hop_length)}) "
            "into whole samples at the lower rate"
        )
    return window


def _blend(low: Spectrum, own: Spectrum) -> None:
    """Write into ``own`` (unit phasors of the same shape, ``(batch, frames, bins)``) the phase
    ``low`` that the band-limited iterations found, given way to ``own``'s across
    :data:`BLEND` of the band's top bin."""
    bins = low.shape[-1]
    top = bins - 1
    start, stop = BLEND
    share = np.clip((stop * top - np.arange(bins)) / ((stop - start) * top), 0.0, 1.0)
    share = share.astype(np.float32)
    own[...] = _unit(share * low + (1 - share) * own)


def griffin_lim_spectrum(
    real: Any,
    imag: Any,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int,
    iterations: int,
    momentum: float = 0.0,
    decimation: int = 1,
    workers: int = 1,
) -> Floats:
    """Float32 waveform(s) of the complex spectrum ``real + 1j * imag`` (each part ``(n_fft // 2
    + 1, frames)`` or ``(batch, n_fft // 2 + 1, frames)``) after ``iterations`` of Griffin-Lim
    started from its own phase: each takes the STFT of the waveform, keeps its phase and the
    spectrum's magnitude, and inverts again. 0 iterations: the spectrum's inverse STFT
    (:func:`autovoice.audio.stft.inverse_stft`).

    ``decimation`` ``d`` > 1 runs the iterations on the band below ``sample_rate / (2 d)``
    alone: its ``n_fft // (2 d) + 1`` bins are the STFT of that band at ``1 / d`` of the sample
    rate (``n_fft // d`` points, hop ``hop_length // d``, the window decimated), so each
    iteration costs about ``1 / d`` of a full one. The phase found replaces the spectrum's own
    below 75% of that band's top, blends into it up to 85% (:data:`BLEND`), and the spectrum's
    phase is kept above; one inverse STFT at the full rate makes the waveform.

    ``workers`` threads split the iterations' frames between them, with the same result for
    any number (:mod:`autovoice.audio.projections`)."""
    _check_settings(n_fft, hop_length, iterations, momentum)
    window = hann_window(win_length, n_fft)
    low_window = decimated_window(
        decimation, n_fft=n_fft, hop_length=hop_length, win_length=win_length
    )
    spectrum, single = stacked_spectrum(real, imag, n_fft // 2 + 1)
    if iterations == 0:
        wave = _invert(spectrum, n_fft, hop_length, window)
    elif decimation == 1:
        magnitude = np.abs(spectrum)
        framing = (n_fft, hop_length, window)
        found = _search(
            magnitude, _unit(spectrum), framing, iterations, float(momentum), workers=workers
        )
        wave = _invert(found, *framing)
    else:  # only the low band's bins change; the rest of the spectrum is inverted as it is
        d = int(decimation)
        band = spectrum[..., : n_fft // (2 * d) + 1]
        magnitude, phase = np.abs(band), _unit(band)
        low = (n_fft // d, hop_length // d, low_window)
        found = _search(
            magnitude, phase, low, iterations, float(momentum), free=True, workers=workers
        )
        _blend(_unit(found), phase)
        np.multiply(magnitude, phase, out=band)
        wave = _invert(spectrum, n_fft, hop_length, window)
    return wave[0] if single else wave
