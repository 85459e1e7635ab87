"""The peak-locked phase (autovoice.audio.phase) and Griffin-Lim started from it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from autovoice.audio.griffin_lim import griffin_lim_magnitude, spectral_convergence, stft_magnitude
from autovoice.audio.phase import peak_locked_phase
from autovoice.audio.process import AudioValueError
from autovoice.heads import HeadError, get_head

N_FFT, HOP = 512, 128


def frame_by_frame(magnitude: np.ndarray) -> np.ndarray:
    """The definition, one frame and one peak at a time."""
    level = np.log(np.maximum(magnitude, 1e-9))
    bins, frames = level.shape
    k = np.arange(bins)
    out, previous = np.zeros((bins, frames)), np.zeros(bins)
    for t in range(frames):
        m = level[:, t]
        peaks = [
            b for b in range(1, bins - 1)
            if m[b] > m[b - 1] and m[b] >= m[b + 1] and m[b] > m.max() - 60.0 / 8.686
        ]  # fmt: skip
        if not peaks:
            previous = previous + 2 * np.pi * k * HOP / N_FFT
        else:
            new = np.empty(bins)
            valleys = [p + int(np.argmin(m[p:q])) for p, q in itertools.pairwise(peaks)]
            bounds = [0, *valleys, bins]  # a valley's bin goes with the peak above it
            for i, p in enumerate(peaks):
                curve = m[p - 1] - 2 * m[p] + m[p + 1]
                shift = 0.5 * (m[p - 1] - m[p + 1]) / curve if curve < 0 else 0.0
                shift = min(max(shift, -0.5), 0.5)
                new[bounds[i] : bounds[i + 1]] = previous[p] + 2 * np.pi * (p + shift) * HOP / N_FFT
            previous = new
        out[:, t] = previous
    return out - np.pi * k[:, None]


def test_the_phase_is_the_definition_computed_frame_by_frame():
    rng = np.random.default_rng(4)
    magnitude = rng.uniform(0.0, 1.0, (N_FFT // 2 + 1, 30)) ** 3
    magnitude[:, 3] = 0.5  # a flat frame: no peaks, every bin at its centre frequency
    magnitude[:, 7] = 0.0
    np.testing.assert_allclose(peak_locked_phase(magnitude, HOP, N_FFT), frame_by_frame(magnitude))


def test_a_frame_depends_on_the_frames_before_it_only():
    magnitude = np.random.default_rng(5).uniform(0.0, 1.0, (N_FFT // 2 + 1, 40)) ** 2
    whole = peak_locked_phase(magnitude, HOP, N_FFT)
    np.testing.assert_array_equal(peak_locked_phase(magnitude[:, :17], HOP, N_FFT), whole[:, :17])


def test_griffin_lim_from_the_locked_phase_comes_closer_in_the_same_iterations():
    rate = 8000
    t = np.arange(rate) / rate
    f0 = 140.0 + 30.0 * np.sin(2 * np.pi * 1.5 * t)  # a gliding voice with ten harmonics
    angle = 2 * np.pi * np.cumsum(f0) / rate
    wave = sum(np.sin(h * angle) / h for h in range(1, 11))
    target = stft_magnitude(wave, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT)
    framing = {"n_fft": N_FFT, "hop_length": HOP, "win_length": N_FFT, "iterations": 8}
    distance = {}
    for init in ("random", "locked"):
        made = griffin_lim_magnitude(target, init=init, **framing)
        rebuilt = stft_magnitude(made, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT)
        distance[init] = spectral_convergence(rebuilt, target)
    assert distance["locked"] < 0.7 * distance["random"]


def test_an_unknown_start_is_refused_by_name():
    with pytest.raises(AudioValueError, match="init: must be one of random, locked"):
        griffin_lim_magnitude(np.ones((N_FFT // 2 + 1, 4)), n_fft=N_FFT, hop_length=HOP,
                              win_length=N_FFT, init="zeros")  # fmt: skip
    with pytest.raises(HeadError, match=r"\$\.vocoder\.head_options\.init"):
        get_head("griffin_lim").bind({"init": "zeros"}, path="$.vocoder.head_options")
