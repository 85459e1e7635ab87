"""The fast Griffin-Lim iteration split between threads: the same bits for any number of
parts, the textbook algorithm's result, errors raised (not hung on), parts only where they pay."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from autovoice.audio import projections
from autovoice.audio.features import hann_window, stft_padding
from autovoice.audio.griffin_lim import griffin_lim_magnitude, griffin_lim_spectrum
from autovoice.audio.projections import Part, parts, search


def problem(count: int, n_fft: int, seed: int = 0, batch: int = 2):
    rng = np.random.default_rng(seed)
    bins = n_fft // 2 + 1
    magnitude = np.abs(rng.standard_normal((batch, count, bins))).astype(np.float32)
    angles = rng.random((batch, count, bins)) * 2 * np.pi
    return magnitude, np.exp(1j * angles).astype(np.complex64)


def textbook(magnitude, phase, n_fft, hop, window, iterations, momentum, *, free):
    """Fast Griffin-Lim in float64 on whole arrays: inverse STFT (overlap-add over the summed
    squared window), padding reflected (or, ``free``, left to the frames), STFT, momentum."""
    batch, count, _ = magnitude.shape
    slabs = -(-n_fft // hop)
    length = (count + slabs - 1) * hop
    norm = np.zeros(length)
    for t in range(count):
        norm[t * hop : t * hop + n_fft] += window.astype(float) ** 2
    left = 0 if free else stft_padding(n_fft, hop)
    weight = momentum / (1 + momentum)

    def signal(spectrum):
        frames = np.fft.irfft(spectrum, n=n_fft, axis=-1) * window
        out = np.zeros((batch, length))
        for t in range(count):
            out[:, t * hop : t * hop + n_fft] += frames[:, t]
        gain = np.where(norm > 1e-8, 1 / np.where(norm > 1e-8, norm, 1), 0)
        out *= gain
        if free:
            return out[:, : (count - 1) * hop + n_fft]
        kept = out[:, left : left + count * hop]
        return np.pad(kept, ((0, 0), (left, n_fft - hop - left)), mode="reflect")

    spectrum = magnitude * phase.astype(complex)
    previous = np.zeros_like(spectrum)
    for _ in range(iterations):
        padded = signal(spectrum)
        frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]
        rebuilt = np.fft.rfft(frames[:, :count] * window, axis=-1)
        moved = rebuilt - weight * previous
        previous = rebuilt
        spectrum = magnitude * moved / np.maximum(np.abs(moved), 1e-8)
    return spectrum


FRAMINGS = [(256, 64, 256, False), (128, 32, 128, True), (200, 64, 160, False), (96, 32, 96, True)]


@pytest.mark.parametrize(("n_fft", "hop", "win", "free"), FRAMINGS)
@pytest.mark.parametrize("count", [1, 2, 7, 40, 131])
def test_any_number_of_parts_gives_the_same_bits(monkeypatch, n_fft, hop, win, free, count):
    monkeypatch.setattr(projections, "MIN_PART_SAMPLES", 4 * n_fft)
    window = hann_window(win, n_fft)
    magnitude, phase = problem(count, n_fft, seed=count)
    one = search(magnitude, phase, parts(magnitude.shape, n_fft, hop, window, free=free), 5, 0.9)
    for workers in (2, 3, 5):
        split = parts(magnitude.shape, n_fft, hop, window, free=free, workers=workers)
        if count >= 4 * workers and count * hop > n_fft:
            assert len(split) == workers
        got = search(magnitude, phase, split, 5, 0.9)
        np.testing.assert_array_equal(got, one)


@pytest.mark.parametrize(("n_fft", "hop", "win", "free"), FRAMINGS)
@pytest.mark.parametrize("count", [2, 9, 60])
def test_the_split_iteration_is_the_textbook_one(monkeypatch, n_fft, hop, win, free, count):
    monkeypatch.setattr(projections, "MIN_PART_SAMPLES", 4 * n_fft)
    window = hann_window(win, n_fft)
    magnitude, phase = problem(count, n_fft, seed=3)
    split = parts(magnitude.shape, n_fft, hop, window, free=free, workers=3)
    got = search(magnitude, phase, split, 4, 0.5)
    want = textbook(magnitude, phase, n_fft, hop, window, 4, 0.5, free=free)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * float(magnitude.max()))


def test_the_vocoder_functions_give_the_same_audio_with_threads(monkeypatch):
    monkeypatch.setattr(projections, "MIN_PART_SAMPLES", 8 * 1024)
    rng = np.random.default_rng(5)
    real, imag = rng.standard_normal((2, 1, 513, 90)).astype(np.float32)
    stft = {"n_fft": 1024, "hop_length": 256, "win_length": 1024}
    for decimation in (1, 8):
        kwargs = {"iterations": 6, "momentum": 0.99, "decimation": decimation, **stft}
        np.testing.assert_array_equal(
            griffin_lim_spectrum(real, imag, workers=3, **kwargs),
            griffin_lim_spectrum(real, imag, **kwargs),
        )
    magnitude = np.hypot(real, imag)
    np.testing.assert_array_equal(
        griffin_lim_magnitude(magnitude, iterations=6, workers=2, **stft),
        griffin_lim_magnitude(magnitude, iterations=6, **stft),
    )


def test_a_failing_part_raises_its_error_and_leaves_no_thread_waiting(monkeypatch):
    monkeypatch.setattr(projections, "MIN_PART_SAMPLES", 1024)
    window = hann_window(256, 256)
    magnitude, phase = problem(64, 256)
    split = parts(magnitude.shape, 256, 64, window, workers=3)
    assert len(split) == 3
    original = Part.analyse

    def failing(self, *args):
        if self.start > 0:
            raise MemoryError("part failed")
        original(self, *args)

    monkeypatch.setattr(Part, "analyse", failing)
    before = threading.active_count()
    with pytest.raises(MemoryError, match="part failed"):
        search(magnitude, phase, split, 5, 0.9)
    assert threading.active_count() == before


def test_short_signals_and_small_frames_stay_in_one_part():
    window = hann_window(1024, 1024)
    per_part = projections.MIN_PART_SAMPLES // 1024
    assert len(parts((1, 2 * per_part, 513), 1024, 256, window, workers=2)) == 2
    assert len(parts((1, 2 * per_part - 1, 513), 1024, 256, window, workers=2)) == 1
    assert len(parts((1, 8 * per_part, 513), 1024, 256, window, workers=3)) == 3
    small = hann_window(128, 128)
    assert len(parts((1, 2 * per_part, 65), 128, 32, small, workers=2)) == 1
