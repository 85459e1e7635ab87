"""Pitch: YIN f0 on tones, harmonic complexes, glides, silence and noise; alignment; stats."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autovoice.audio.features import num_frames
from autovoice.audio.pitch import _smooth, estimate_pitch, pitch_stats
from autovoice.audio.process import AudioValueError

SR, HOP, N_FFT = 22050, 256, 1024


def pitch(wave: np.ndarray, **kwargs: float) -> np.ndarray:
    n = num_frames(wave.size, HOP, N_FFT)
    return estimate_pitch(wave, sample_rate=SR, hop_length=HOP, n_frames=n, **kwargs)


def seconds(duration: float) -> np.ndarray:
    return np.arange(int(SR * duration)) / SR


def centers(n_frames: int) -> np.ndarray:
    """The sample each frame is centred on, as documented."""
    return np.arange(n_frames) * HOP + HOP // 2


@pytest.mark.parametrize("f0", [100.0, 220.0, 330.0])
def test_sine_gives_its_frequency_on_nearly_every_frame(f0: float) -> None:
    f = pitch(0.5 * np.sin(2 * np.pi * f0 * seconds(1.0)))
    voiced = f[f > 0]
    assert f.dtype == np.float32
    assert voiced.size > 0.95 * f.size
    assert abs(np.median(voiced) / f0 - 1) < 0.01


def test_weak_fundamental_gives_f0_not_its_octave() -> None:
    t = seconds(1.0)
    f0 = 110.0
    amplitudes = {1: 0.1, 2: 1.0, 3: 1.0, 4: 0.8, 5: 0.6, 6: 0.4}
    wave = sum(a * np.sin(2 * np.pi * f0 * k * t + k) for k, a in amplitudes.items())
    f = pitch(0.2 * np.asarray(wave))
    voiced = f[f > 0]
    assert voiced.size > 0.9 * f.size
    assert abs(np.median(voiced) / f0 - 1) < 0.01
    assert np.mean(np.abs(voiced / f0 - 1) < 0.05) > 0.99  # no frame at 2 f0 or f0 / 2


def test_glide_is_tracked() -> None:
    t = seconds(1.0)
    instantaneous = 120.0 + 120.0 * t  # 120 -> 240 Hz over one second
    wave = 0.5 * np.sin(2 * np.pi * np.cumsum(instantaneous) / SR)
    f = pitch(wave)
    truth = 120.0 + 120.0 * centers(f.size) / SR
    assert np.mean(np.abs(f / truth - 1) < 0.03) > 0.9


@pytest.mark.parametrize("switch", [42 * HOP + 163, 43 * HOP + 128])  # tight before, tight after
def test_frames_sit_where_the_mel_frames_sit(switch: int) -> None:
    """With frame_length = n_fft, lag τ compares samples c - n_fft/2 ... c - n_fft/2 + W + τ."""
    # 150 Hz before the switch sample, 250 Hz from it on
    t = seconds(1.0)
    wave = 0.5 * np.sin(2 * np.pi * np.where(np.arange(t.size) < switch, 150.0, 250.0) * t)
    f = pitch(wave, frame_length=N_FFT)
    start = centers(f.size) - N_FFT // 2
    window = N_FFT - int(np.ceil(SR / 60.0)) - 1  # W for the default f_min
    before = (start + window + int(np.ceil(SR / 150.0)) + 1 <= switch) & (start >= N_FFT)
    after = (start >= switch) & (start + 2 * N_FFT <= t.size)
    assert before.sum() > 10 and after.sum() > 10
    np.testing.assert_allclose(f[before], 150.0, rtol=1e-3)
    np.testing.assert_allclose(f[after], 250.0, rtol=1e-3)


def test_silence_is_unvoiced() -> None:
    f = pitch(np.zeros(SR))
    assert np.all(f == 0)


@pytest.mark.parametrize("level", [1e-3, 0.3])
def test_white_noise_is_mostly_unvoiced(level: float) -> None:
    rng = np.random.default_rng(7)
    f = pitch(level * rng.standard_normal(SR))
    assert np.mean(f == 0) > 0.9


def test_quiet_frames_are_gated() -> None:
    t = seconds(1.0)
    loud = 0.5 * np.sin(2 * np.pi * 200.0 * t)
    wave = np.concatenate([loud, 1e-4 * loud])  # the second half is 74 dB down
    f = pitch(wave)
    c = centers(f.size)
    assert np.all(f[c > SR + N_FFT] == 0)
    assert np.mean(f[c < SR - N_FFT] > 0) > 0.9
    assert np.mean(pitch(wave, energy_gate_db=90.0)[c > SR + N_FFT] > 0) > 0.9


def test_frames_past_the_end_are_unvoiced() -> None:
    wave = 0.5 * np.sin(2 * np.pi * 200.0 * seconds(0.5))
    n = num_frames(wave.size, HOP, N_FFT)
    f = estimate_pitch(wave, sample_rate=SR, hop_length=HOP, n_frames=n + 20)
    assert f.shape == (n + 20,)
    assert np.all(f[centers(f.size) >= wave.size] == 0)
    assert np.mean(f[:n] > 0) > 0.9


@settings(max_examples=40, deadline=None)
@given(
    n_samples=st.integers(0, 12_000),
    n_frames=st.integers(0, 80),
    hop=st.sampled_from([128, 200, 256, 275]),
    seed=st.integers(0, 2**16),
)
def test_length_is_always_n_frames(n_samples: int, n_frames: int, hop: int, seed: int) -> None:
    wave = np.random.default_rng(seed).uniform(-1, 1, n_samples)
    f = estimate_pitch(wave, sample_rate=SR, hop_length=hop, n_frames=n_frames)
    assert f.shape == (n_frames,)
    assert f.dtype == np.float32
    assert np.all(np.isfinite(f)) and np.all(f >= 0)


def test_smoothing_removes_an_octave_jump_within_a_run_only() -> None:
    f0 = np.array([0, 200, 200, 400, 200, 200, 0, 300, 300, 300, 0], dtype=np.float64)
    smoothed = _smooth(f0, 5)
    expected = [0, 200, 200, 200, 200, 200, 0, 300, 300, 300, 0]
    np.testing.assert_array_equal(smoothed, expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"f_min": 300.0, "f_max": 200.0}, "f_min"),
        ({"threshold": 1.5}, "threshold"),
        ({"hop_length": 0}, "hop_length"),
        ({"n_frames": -1}, "n_frames"),
        ({"frame_length": 256}, "frame_length"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, float], message: str) -> None:
    args: dict[str, float] = {"sample_rate": SR, "hop_length": HOP, "n_frames": 4, **kwargs}
    with pytest.raises(AudioValueError, match=message):
        estimate_pitch(np.zeros(SR), **args)  # type: ignore[arg-type]


def test_bad_waves_are_rejected() -> None:
    with pytest.raises(AudioValueError, match="mono"):
        estimate_pitch(np.zeros((2, SR)), sample_rate=SR, hop_length=HOP, n_frames=4)
    with pytest.raises(AudioValueError, match="NaN"):
        estimate_pitch(np.full(SR, np.nan), sample_rate=SR, hop_length=HOP, n_frames=4)


def test_pitch_stats_match_all_voiced_frames_pooled() -> None:
    rng = np.random.default_rng(3)
    pitches = [np.where(rng.random(n) < 0.6, rng.uniform(80, 400, n), 0.0) for n in (5, 0, 40, 17)]
    pooled = np.log(np.concatenate([p[p > 0] for p in pitches]))
    mean, std = pitch_stats(iter(pitches))
    assert mean == pytest.approx(pooled.mean(), rel=1e-12)
    assert std == pytest.approx(pooled.std(), rel=1e-12)


def test_pitch_stats_need_a_voiced_frame() -> None:
    with pytest.raises(AudioValueError, match="no voiced"):
        pitch_stats([np.zeros(10), np.zeros(0)])
    with pytest.raises(AudioValueError, match="pitch array 1"):
        pitch_stats([np.ones(3), np.array([100.0, -1.0])])
