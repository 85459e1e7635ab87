"""The over-smoothing measures of autovoice.evaluation: global variance, modulation spectrum,
f0 along a DTW path and projected phoneme durations, on constructed analyses with known answers
and on synthetic speech-like audio."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autovoice.evaluation import (
    Analysis,
    EvaluationError,
    align,
    analyse,
    band_centres,
    duration_errors,
    frame_seconds,
    global_variance,
    mel_cepstral_distortion,
    mel_cepstrum,
    modulation_distance,
    modulation_spectrum,
    path_distortion,
    phoneme_class,
    pitch_errors,
    projected_seconds,
)
from tests.test_evaluation import RATE, speech_like


def moving_mean(bands: np.ndarray, width: int) -> np.ndarray:
    """Each frame the mean of the ``width`` frames around it (edges repeated)."""
    padded = np.pad(bands, ((0, 0), (width // 2, width - 1 - width // 2)), mode="edge")
    kernel = np.ones(width) / width
    return np.stack([np.convolve(row, kernel, mode="valid") for row in padded])


def made(log_mel: np.ndarray, f0: np.ndarray | None = None, start: float = 0.0) -> Analysis:
    frames = log_mel.shape[1]
    pitch = np.full(frames, 150.0) if f0 is None else f0
    return Analysis(log_mel=log_mel, cepstra=mel_cepstrum(log_mel), f0=pitch, start=start)


def trajectories(frames: int = 400, seed: int = 0) -> np.ndarray:
    """Log-mel bands that move at syllable rate and faster, around a speech-like level."""
    rng = np.random.default_rng(seed)
    return -4.0 + rng.standard_normal((80, frames))


def diagonal(frames: int) -> np.ndarray:
    return np.stack([np.arange(frames)] * 2, axis=1)


def test_global_variance_is_each_bands_variance_and_drops_when_smoothed() -> None:
    bands = trajectories()
    sharp = made(bands)
    assert global_variance([sharp]) == pytest.approx(bands.var(axis=1), rel=1e-9)
    smooth = made(moving_mean(bands, 5))
    ratio = global_variance([smooth]) / global_variance([sharp])
    assert (ratio < 0.4).all()  # a 5-frame mean keeps ~1/5 of white noise's variance


def test_global_variance_leaves_out_quiet_frames() -> None:
    bands = trajectories()
    quiet = bands.copy()
    quiet[:, :100] = -30.0  # a long pause, far below the gate
    assert global_variance([made(quiet)]) == pytest.approx(bands[:, 100:].var(axis=1), rel=1e-9)


def test_band_centres_rise_through_the_analysis_range() -> None:
    centres = band_centres()
    assert len(centres) == 80
    assert np.all(np.diff(centres) > 0)
    assert 0 < centres[0] < 100 and 7000 < centres[-1] < 8000


def test_modulation_spectrum_sees_smoothing_at_high_rates_only() -> None:
    bands = trajectories()
    sharp, smooth = made(bands), made(moving_mean(bands, 5))
    a, b = modulation_spectrum([sharp]), modulation_spectrum([smooth])
    assert a.shape == (80, 33)
    low, high = slice(1, 4), slice(20, 33)
    assert np.abs(a[:, low] - b[:, low]).mean() < 1.0  # slow movements survive a short mean
    assert (a[:, high] - b[:, high]).mean() > 10.0  # fast ones are gone
    assert modulation_distance(a, a) == 0.0
    assert modulation_distance(a, b) > 5.0


def test_modulation_spectrum_is_independent_of_level_and_takes_short_utterances() -> None:
    bands = trajectories(frames=30)
    louder = made(bands + 2.0)
    assert (
        modulation_distance(modulation_spectrum([made(bands)]), modulation_spectrum([louder]))
        < 1e-9
    )
    with pytest.raises(EvaluationError, match="target: modulation spectrum"):
        modulation_distance(np.zeros((80, 33)), np.zeros((80, 17)))
    with pytest.raises(EvaluationError, match="analyses: no recordings"):
        modulation_spectrum([])


def test_pitch_errors_in_cents_and_correlation() -> None:
    frames = 200
    contour = 150.0 * 2 ** (0.2 * np.sin(np.linspace(0, 6, frames)))
    reference = made(trajectories(frames), contour)
    up_a_semitone = made(trajectories(frames), contour * 2 ** (1 / 12))
    errors = pitch_errors([(up_a_semitone, reference, diagonal(frames))])
    assert errors.rmse_cents == pytest.approx(100.0, rel=1e-9)
    assert errors.correlation == pytest.approx(1.0, abs=1e-9)
    assert errors.voicing_error == 0.0 and errors.frames == frames
    flat = made(trajectories(frames), np.full(frames, 150.0) * (1 + 1e-3 * np.arange(frames)))
    assert pitch_errors([(flat, reference, diagonal(frames))]).correlation < 0.5


def test_pitch_errors_count_voicing_mismatches() -> None:
    frames = 100
    reference = made(trajectories(frames), np.full(frames, 200.0))
    half = np.full(frames, 200.0)
    half[:25] = 0.0
    errors = pitch_errors([(made(trajectories(frames), half), reference, diagonal(frames))])
    assert errors.voicing_error == pytest.approx(0.25)
    assert errors.frames == 75 and errors.rmse_cents == 0.0


def test_phoneme_classes() -> None:
    assert [phoneme_class(s) for s in ("ə", "t", "ʃ", "ŋ", "ɹ", " ", "ˈ")] == [
        "vowel", "stop", "fricative", "nasal", "approximant", "pause", "other",
    ]  # fmt: skip


def test_durations_projected_through_a_stretch() -> None:
    """The reference says the same thing twice as slowly: every duration doubles."""
    frames = 100
    source = made(trajectories(frames), start=0.5)
    reference = made(np.repeat(trajectories(frames), 2, axis=1), start=0.25)
    path = np.stack([np.repeat(np.arange(frames), 2), np.arange(2 * frames)], axis=1)
    step = frame_seconds()
    boundaries = 0.5 + np.array([0, 10, 30, 100]) * step
    assert projected_seconds(boundaries, source, reference, path) == pytest.approx(
        0.25 + np.array([0, 20, 60, 200]) * step
    )
    phonemes = [("h", boundaries[0], boundaries[1]), ("ə", boundaries[1], boundaries[2])]
    phonemes.append(("l", boundaries[2], boundaries[3]))
    errors = duration_errors([(phonemes, source, reference, path)])
    ms = 1000 * step
    assert errors.mean_signed_ms == pytest.approx(
        {"fricative": -10 * ms, "vowel": -20 * ms, "approximant": -70 * ms}
    )
    assert errors.mean_absolute_ms["vowel"] == pytest.approx(20 * ms)
    assert errors.counts == {"fricative": 1, "vowel": 1, "approximant": 1}


def test_durations_before_the_trimmed_front_count_as_nothing() -> None:
    frames = 50
    source = made(trajectories(frames), start=1.0)
    errors = duration_errors([([(" ", 0.0, 0.9)], source, source, diagonal(frames))])
    assert errors.mean_absolute_ms == {"pause": 0.0}
    with pytest.raises(EvaluationError, match="phonemes: a phoneme ends before"):
        duration_errors([([("a", 0.5, 0.4)], source, source, diagonal(frames))])


def test_analysis_of_speech_like_audio() -> None:
    wave = speech_like(1.5)
    padded = np.concatenate([np.zeros(RATE // 2, np.float32), wave])
    item = analyse(padded, RATE)
    assert item.start == pytest.approx(
        0.5, abs=0.05
    )  # the silence cut, to within a 1024-sample frame
    voiced = item.f0[item.f0 > 0]
    assert voiced.size > 0.5 * item.frames
    assert 85 < np.median(voiced) < 160  # the glide of speech_like: 90 … 150 Hz
    same = analyse(wave, RATE)
    path = align(item, same)
    assert path_distortion(item, same, path) < 0.5  # only the frames at the cut differ
    assert path_distortion(item, same, path) == pytest.approx(
        mel_cepstral_distortion(item.cepstra, same.cepstra), rel=1e-12
    )
    slower = analyse(np.repeat(wave, 2), RATE)  # every sample twice: an octave down, half as fast
    assert pitch_errors([(slower, same, align(slower, same))]).rmse_cents > 600
    assert not math.isnan(pitch_errors([(item, same, path)]).correlation)
