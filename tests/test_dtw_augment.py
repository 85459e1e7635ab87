"""Dynamic time warping and augmentation: pure numpy, checked against brute force and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autovoice.data.augment import (
    SpecAugment,
    WaveAugment,
    add_noise,
    apply_gain,
    augment_wave,
    change_speed,
    item_rng,
    spec_augment,
)
from autovoice.data.dtw import align_to_source, dtw_path, frame_distances, warp_to_source


def brute_force_cost(cost: np.ndarray) -> float:
    n, m = cost.shape
    best = np.full((n, m), np.inf)
    for i in range(n):
        for j in range(m):
            before = [
                best[a, b] for a, b in ((i - 1, j), (i, j - 1), (i - 1, j - 1)) if a >= 0 <= b
            ]
            best[i, j] = cost[i, j] + (min(before) if before else 0.0)
    return float(best[-1, -1])


def check_path(path: np.ndarray, n: int, m: int) -> None:
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
    steps = np.diff(path, axis=0)
    assert np.all((steps >= 0) & (steps <= 1)), "path is not monotonic with unit steps"
    assert np.all(steps.sum(axis=1) >= 1), "path stands still"


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 9),
    m=st.integers(1, 9),
    seed=st.integers(0, 2**31),
)
def test_path_is_monotonic_and_optimal(n: int, m: int, seed: int) -> None:
    cost = np.random.default_rng(seed).random((n, m))
    path = dtw_path(cost)
    check_path(path, n, m)
    assert cost[path[:, 0], path[:, 1]].sum() == pytest.approx(brute_force_cost(cost))


def test_aligned_target_has_the_source_frames_and_undoes_a_stretch() -> None:
    rng = np.random.default_rng(0)
    source = rng.standard_normal((20, 50)).astype(np.float32)
    # the target says the same thing slower: every frame held for 1 to 3 frames
    holds = rng.integers(1, 4, size=50)
    target = np.repeat(source, holds, axis=1) + 0.01 * rng.standard_normal((20, holds.sum()))
    aligned, path = align_to_source(source, target.astype(np.float32))
    assert aligned.shape == source.shape and aligned.dtype == np.float32
    check_path(path, 50, int(holds.sum()))
    np.testing.assert_allclose(aligned, source, atol=0.05)


def test_warp_averages_the_target_frames_matched_to_a_source_frame() -> None:
    target = np.array([[1.0, 3.0, 10.0]])
    path = np.array([[0, 0], [0, 1], [1, 2]])
    np.testing.assert_allclose(warp_to_source(path, target, 2), [[2.0, 10.0]])


def test_frame_distances_ignore_a_constant_offset() -> None:
    a = np.random.default_rng(1).standard_normal((8, 12))
    d = frame_distances(a, a + 5.0)
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-6)
    assert d.shape == (12, 12)


def test_empty_sequences_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        dtw_path(np.zeros((0, 3)))


WAVE = (0.5 * np.sin(np.arange(8000) / 7.0)).astype(np.float32)
ALL_ON = WaveAugment(sample_rate=16000, gain_db=6.0, noise_prob=1.0, snr_db=15.0, speed_prob=1.0)


def test_same_seed_epoch_index_gives_the_same_augmentation() -> None:
    a = augment_wave(WAVE, item_rng(7, 2, 5), ALL_ON)
    b = augment_wave(WAVE, item_rng(7, 2, 5), ALL_ON)
    np.testing.assert_array_equal(a, b)
    masks = SpecAugment(time_masks=2, freq_masks=2)
    mel = np.random.default_rng(0).standard_normal((80, 100)).astype(np.float32)
    np.testing.assert_array_equal(
        spec_augment(mel, item_rng(7, 2, 5), masks), spec_augment(mel, item_rng(7, 2, 5), masks)
    )


def test_augmentation_differs_across_epochs_and_items() -> None:
    base = augment_wave(WAVE, item_rng(7, 0, 5), ALL_ON)
    for other in (item_rng(7, 1, 5), item_rng(7, 0, 6), item_rng(8, 0, 5)):
        changed = augment_wave(WAVE, other, ALL_ON)
        assert changed.shape != base.shape or not np.allclose(changed, base)
    assert not np.array_equal(item_rng(7, 0, 5, 0).random(4), item_rng(7, 0, 5, 1).random(4))


def test_noise_is_added_at_the_requested_snr() -> None:
    noisy = add_noise(WAVE, 10.0, np.random.default_rng(0))
    noise = noisy.astype(np.float64) - WAVE
    snr = 10 * np.log10(np.mean(WAVE.astype(np.float64) ** 2) / np.mean(noise**2))
    assert snr == pytest.approx(10.0, abs=0.3)
    np.testing.assert_array_equal(add_noise(np.zeros(10, np.float32), 10.0, item_rng(0, 0, 0)), 0)


@pytest.mark.parametrize("factor", [0.9, 1.1, 1.25])
def test_speed_changes_the_length_by_the_factor(factor: float) -> None:
    out = change_speed(WAVE, factor, 16000)
    assert len(out) == pytest.approx(len(WAVE) / factor, abs=2)
    assert out.dtype == np.float32


def test_gain_scales_by_decibels() -> None:
    np.testing.assert_allclose(apply_gain(WAVE, 20.0), WAVE * 10.0, rtol=1e-6)


def test_disabled_steps_leave_the_wave_alone() -> None:
    off = WaveAugment(sample_rate=16000)
    assert not off.active
    np.testing.assert_array_equal(augment_wave(WAVE, item_rng(0, 0, 0), off), WAVE)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    time_masks=st.integers(0, 3),
    freq_masks=st.integers(0, 3),
    width=st.integers(0, 30),
)
def test_masks_cover_bounded_spans(seed: int, time_masks: int, freq_masks: int, width: int) -> None:
    mel = np.random.default_rng(seed).random((40, 60)).astype(np.float32) + 1.0
    masks = SpecAugment(
        time_masks=time_masks, time_width=width, freq_masks=freq_masks, freq_width=width
    )
    out = spec_augment(mel, np.random.default_rng(seed), masks, fill=0.0)
    masked = out == 0.0
    assert np.array_equal(out[~masked], mel[~masked])
    full_rows = masked.all(axis=1).sum()
    full_cols = masked.all(axis=0).sum()
    assert full_rows <= freq_masks * width
    assert full_cols <= time_masks * width
    assert np.array_equal(masked, masked.all(axis=1)[:, None] | masked.all(axis=0)[None, :])
