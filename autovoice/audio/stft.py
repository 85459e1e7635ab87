"""The inverse of the features' STFT framing (numpy only): the one least-squares inverse STFT.

:mod:`autovoice.audio.features` frames a waveform of ``samples`` thus: reflect-pad it by
``left = (n_fft - hop_length) // 2`` samples on both sides, cut frames of ``n_fft`` samples every
``hop_length``, multiply each by the periodic Hann window of ``win_length`` centred (zero-padded)
in ``n_fft``, and take its real FFT: ``(n_fft // 2 + 1)`` bins per frame.

:func:`inverse_stft` undoes that for a complex spectrum of ``frames`` frames, given as its real
and imaginary parts ``(batch, n_fft // 2 + 1, frames)``:

1. ``irfft`` of each frame, ``n = n_fft`` points;
2. times the same window;
3. overlap-add: frame ``t`` added at samples ``t * hop_length ... t * hop_length + n_fft - 1``
   of a buffer of ``(frames - 1) * hop_length + n_fft`` samples (or more; the rest is zero);
4. times one over the summed squared window under each sample (the window squared,
   overlap-added the same way), where that sum is greater than ``1e-8``; 0 where it is not;
5. crop samples ``[left, left + frames * hop_length)``: ``(batch, frames * hop_length)``.

Of the STFT of a real waveform this gives the waveform back (to float32 rounding) wherever the
summed squared window is above 1e-8, which it is everywhere when ``win_length > hop_length``.
This is what the ``istft`` head of :mod:`autovoice.heads` runs after a vocoder's graph, and what
Griffin-Lim (:mod:`autovoice.audio.griffin_lim`) runs every iteration; a graph that ends in its
own inverse STFT (a fixed-basis matmul and an overlap-add) follows these same five steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from autovoice.audio.features import hann_window, stft_padding
from autovoice.audio.process import AudioValueError

__all__ = [
    "WINDOW_FLOOR",
    "Synthesis",
    "inverse_stft",
    "overlap_add",
    "stacked_spectrum",
    "summed_squares",
    "synthesis_gain",
]

Floats = npt.NDArray[np.float32]
WINDOW_FLOOR = np.float32(1e-8)
"""Where the summed squared window is no larger than this, the inverse STFT gives 0."""


def overlap_add(frames: Floats, hop: int, out: Floats | None = None) -> Floats:
    """``(batch, frames, n)`` laid ``hop`` apart and summed: ``(batch, (frames + k - 1) * hop)``
    with ``k = ceil(n / hop)``; one vectorized add per hop-sized slab of the frame."""
    batch, count, size = frames.shape
    slabs = -(-size // hop)
    if slabs * hop != size:
        frames = np.pad(frames, ((0, 0), (0, 0), (0, slabs * hop - size)))
    blocks = frames.reshape(batch, count, slabs, hop)
    if out is None:
        out = np.zeros((batch, count + slabs - 1, hop), dtype=frames.dtype)
    else:
        out.fill(0.0)
    for j in range(slabs):
        out[:, j : j + count] += blocks[:, :, j]
    return out.reshape(batch, -1)


def summed_squares(count: int, hop: int, window: Floats) -> Floats:
    """``((count + k - 1) * hop,)``: the squared ``window`` (``n`` samples, ``k = ceil(n /
    hop)``) laid ``hop`` apart ``count`` times and summed, as :func:`overlap_add` sums frames.
    Away from the ends every hop of it is the same, so only the ends are added up frame by
    frame; the middle repeats one steady hop."""
    squares = np.ascontiguousarray(window * window, dtype=np.float32)
    slabs = -(-squares.size // hop)
    frames = np.broadcast_to(squares, (1, min(count, 2 * slabs), squares.size)).copy()
    ends: Floats = overlap_add(frames, hop)[0]
    if count <= 2 * slabs:
        return ends
    edge = (slabs - 1) * hop  # samples at each end under fewer than all slabs
    middle = np.tile(ends[edge : edge + hop], count - slabs + 1)
    total: Floats = np.concatenate([ends[:edge], middle, ends[ends.size - edge :]])
    return total


def synthesis_gain(
    count: int, n_fft: int, hop: int, window: Floats, *, whole: bool = False
) -> Floats:
    """``(count * hop,)``: one over the summed squared window under each kept sample (0 where
    that sum is not above :data:`WINDOW_FLOOR`); ``whole``: under every sample the frames
    cover, ``((count - 1) * hop + n_fft,)``, the padding included."""
    start = 0 if whole else stft_padding(n_fft, hop)
    size = (count - 1) * hop + n_fft if whole else count * hop
    kept = summed_squares(count, hop, window)[start : start + size]
    gain = np.zeros(kept.shape, np.float32)
    np.divide(np.float32(1.0), kept, out=gain, where=kept > WINDOW_FLOOR)
    return gain


class Synthesis:
    """The inverse STFT of one batch shape ``(batch, count frames)``, on buffers allocated once
    (Griffin-Lim runs it every iteration).

    ``whole``: every sample the frames cover, ``(count - 1) * hop + n_fft``, the padding
    included, rather than step 5's crop (for an iteration whose padding is left free instead of
    reflected: :mod:`autovoice.audio.griffin_lim`'s band-limited projections)."""

    def __init__(
        self, batch: int, count: int, n_fft: int, hop: int, window: Floats, *, whole: bool = False
    ) -> None:
        self.n_fft, self.hop, self.window = n_fft, hop, window
        self.left = 0 if whole else stft_padding(n_fft, hop)
        self.gain = synthesis_gain(count, n_fft, hop, window, whole=whole)
        self.samples = self.gain.size
        self.frames = np.empty((batch, count, n_fft), np.float32)
        self.ola = np.empty((batch, count + -(-n_fft // hop) - 1, hop), np.float32)

    def __call__(self, spectrum: npt.NDArray[np.complex64], out: Floats) -> Floats:
        """``(batch, frames, bins)`` complex to ``(batch, frames * hop)`` samples (``whole``:
        all of them), written into ``out`` (steps 1-5 of the module docstring)."""
        np.fft.irfft(spectrum, n=self.n_fft, axis=-1, out=self.frames)  # type: ignore[arg-type]
        self.frames *= self.window
        summed = overlap_add(self.frames, self.hop, self.ola)
        np.multiply(summed[:, self.left : self.left + self.samples], self.gain, out=out)
        return out


def _check_parts(real: Any, imag: Any, bins: int) -> tuple[Floats, Floats]:
    parts = np.asarray(real, dtype=np.float32), np.asarray(imag, dtype=np.float32)
    for name, part in zip(("real", "imag"), parts, strict=True):
        if part.ndim not in (2, 3) or part.shape[-2] != bins or part.shape[-1] < 1:
            raise AudioValueError(
                f"{name}: expected (bins={bins}, frames) or (batch, {bins}, frames) with "
                f"frames >= 1, got shape {part.shape}"
            )
        if not np.isfinite(part).all():
            raise AudioValueError(f"{name}: holds NaN or infinite values")
    if parts[0].shape != parts[1].shape:
        raise AudioValueError(
            f"real and imag: shapes differ, {parts[0].shape} and {parts[1].shape}"
        )
    return parts


def stacked_spectrum(real: Any, imag: Any, bins: int) -> tuple[npt.NDArray[np.complex64], bool]:
    """The complex spectrum of parts ``(bins, frames)`` or ``(batch, bins, frames)`` (float32,
    finite, of one shape; an :class:`AudioValueError` naming the part that is not), as
    ``(batch, frames, bins)`` complex64, and whether the parts had no batch axis."""
    re, im = _check_parts(real, imag, bins)
    single = re.ndim == 2
    spectrum = np.empty((*re.shape[:-2], re.shape[-1], re.shape[-2]), np.complex64)
    spectrum.real, spectrum.imag = np.swapaxes(re, -1, -2), np.swapaxes(im, -1, -2)
    return (spectrum[None] if single else spectrum), single


def inverse_stft(real: Any, imag: Any, *, n_fft: int, hop_length: int, win_length: int) -> Floats:
    """Float32 waveform(s) of the complex spectrum ``real + 1j * imag``, each part
    ``(n_fft // 2 + 1, frames)`` or ``(batch, n_fft // 2 + 1, frames)``: ``(frames *
    hop_length,)`` or ``(batch, frames * hop_length)``, as the module docstring defines it."""
    if not 0 < hop_length <= n_fft:
        raise AudioValueError(f"need 0 < hop_length <= n_fft, got {hop_length}, {n_fft}")
    window = hann_window(win_length, n_fft)
    stacked, single = stacked_spectrum(real, imag, n_fft // 2 + 1)
    batch, count, _ = stacked.shape
    synthesis = Synthesis(batch, count, n_fft, hop_length, window)
    wave = synthesis(stacked, np.empty((batch, count * hop_length), np.float32))
    return wave[0] if single else wave
