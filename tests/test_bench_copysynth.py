"""The copy-synthesis scores: distances are 0 for the recording itself and grow with what a
vocoder gets wrong; the phase distance ignores what is inaudible (the absolute phase) and sees
what is not (a phase structure unrelated to the recording's)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.bench_copysynth import phase_distance, stft_distance

RATE = 22050


def voiced(seconds: float = 1.0, pitch: float = 140.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * k * pitch * t) / k for k in range(1, 20))
    return (0.3 * wave).astype(np.float32)


def test_the_recording_itself_is_at_distance_zero():
    wave = voiced()
    assert stft_distance(wave, wave) == pytest.approx(0.0, abs=1e-9)
    assert phase_distance(wave, wave, 1024, 256) == pytest.approx(0.0, abs=1e-9)


def test_phase_distance_ignores_sign_and_sees_a_scrambled_phase():
    wave = voiced()
    # an inverted waveform: every phase moves by pi, no difference of phases changes
    assert phase_distance(-wave, wave, 1024, 256) == pytest.approx(0.0, abs=1e-6)
    # each frame's magnitude with random phases: no phase structure is left
    from autovoice.audio.features import stft_magnitude
    from autovoice.audio.stft import inverse_stft

    rng = np.random.default_rng(0)
    cut = wave[: wave.size // 256 * 256]
    magnitude = stft_magnitude(cut, n_fft=1024, hop_length=256, win_length=1024)
    angle = 2 * np.pi * rng.random(magnitude.shape)
    real, imag = (magnitude * np.cos(angle))[None], (magnitude * np.sin(angle))[None]
    scrambled = inverse_stft(real, imag, n_fft=1024, hop_length=256, win_length=1024)[0]
    assert phase_distance(scrambled, cut, 1024, 256) > 0.8
    assert stft_distance(0.5 * wave, wave) > 0.5  # half as loud is far in log magnitude
