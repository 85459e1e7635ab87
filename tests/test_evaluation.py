"""Word error rate and mel cepstral distortion (autovoice.evaluation), checked by hand-counted
cases, against jiwer when it is installed, and on synthetic speech-like signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from autovoice.evaluation import (
    EvaluationError,
    WordErrors,
    corpus_word_errors,
    mel_cepstral_distortion,
    mel_cepstrum,
    score_words,
    utterance_cepstra,
    word_errors,
)

RATE = 16000


def words(text: str) -> list[str]:
    return text.split()


# -- scoring text -------------------------------------------------------------------------------


def test_score_words_reads_numbers_and_drops_punctuation() -> None:
    assert score_words("Tickets cost $45, don't they?") == [
        "tickets", "cost", "forty", "five", "dollars", "don't", "they",
    ]  # fmt: skip
    assert score_words("A well-known 'quote'.") == ["a", "well", "known", "quote"]
    assert score_words("  ...  ") == []


def test_written_and_spoken_numbers_score_alike() -> None:
    heard = "flight three hundred and seventy two leaves at seven forty five"
    total, _ = corpus_word_errors(["Flight 372 leaves at 7:45."], [heard])
    assert total.errors == 0 and total.reference_words == 11


# -- word errors: hand-counted ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "hypothesis", "counts"),
    [
        ("the cat sat on the mat", "the cat sat on the mat", (0, 0, 0)),
        ("the cat sat on the mat", "the cat sit on mat", (1, 1, 0)),
        ("a b c", "a x b c", (0, 0, 1)),
        ("a b c", "", (0, 3, 0)),
        ("", "a b", (0, 0, 2)),
        ("a b", "b a", (2, 0, 0)),
        ("one two three four", "two three four five", (0, 1, 1)),
        ("please keep the windows shut", "please keep the window shut up here", (1, 0, 2)),
    ],
)
def test_word_errors_count_each_kind(
    reference: str, hypothesis: str, counts: tuple[int, int, int]
) -> None:
    result = word_errors(words(reference), words(hypothesis))
    assert (result.substitutions, result.deletions, result.insertions) == counts
    assert result.reference_words == len(words(reference))


def test_rate_is_errors_per_reference_word() -> None:
    assert word_errors(words("the cat sat on the mat"), words("the cat sit on mat")).rate == (
        pytest.approx(2 / 6)
    )
    assert word_errors(["a"], ["b", "c", "d"]).rate == 3.0  # insertions can pass 100 %
    assert math.isnan(word_errors([], ["a"]).rate)


def test_corpus_rate_sums_errors_rather_than_averaging_rates() -> None:
    total, each = corpus_word_errors(["a b", "c d e f g h i j"], ["a", "c d e f g h i j"])
    assert [e.errors for e in each] == [1, 0]
    assert total.errors == 1 and total.reference_words == 10
    assert total.rate == pytest.approx(0.1)  # the mean of the two rates would be 0.25


def test_corpus_needs_one_transcript_per_reference() -> None:
    with pytest.raises(EvaluationError, match="hypotheses: 1 transcripts for 2 references"):
        corpus_word_errors(["a", "b"], ["a"])


def test_word_errors_add_up() -> None:
    one = WordErrors(substitutions=1, deletions=2, insertions=3, reference_words=10)
    two = WordErrors(substitutions=4, deletions=0, insertions=1, reference_words=5)
    assert one + two == WordErrors(substitutions=5, deletions=2, insertions=4, reference_words=15)


# -- word errors: properties --------------------------------------------------------------------

sentences = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=9)


@settings(max_examples=80, deadline=None)
@given(reference=sentences, hypothesis=sentences)
def test_edit_distance_bounds_and_symmetry(reference: list[str], hypothesis: list[str]) -> None:
    forward = word_errors(reference, hypothesis)
    backward = word_errors(hypothesis, reference)
    assert abs(len(reference) - len(hypothesis)) <= forward.errors
    assert forward.errors <= max(len(reference), len(hypothesis))
    assert forward.errors == backward.errors
    assert forward.deletions - forward.insertions == len(reference) - len(hypothesis)


@settings(max_examples=80, deadline=None)
@given(reference=sentences.filter(bool), hypothesis=sentences)
def test_total_errors_agree_with_jiwer(reference: list[str], hypothesis: list[str]) -> None:
    jiwer = pytest.importorskip("jiwer")
    theirs = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    ours = word_errors(reference, hypothesis)
    assert ours.errors == theirs.substitutions + theirs.deletions + theirs.insertions


# -- mel cepstra --------------------------------------------------------------------------------


def test_cepstrum_follows_the_mcd_convention() -> None:
    rng = np.random.default_rng(0)
    log_spectrum = rng.normal(size=(20, 3))
    c = mel_cepstrum(log_spectrum, coefficients=20)
    m = np.arange(20)[:, None]
    rebuilt = c[0] + 2 * sum(c[d] * np.cos(np.pi * d * (m + 0.5) / 20) for d in range(1, 20))
    np.testing.assert_allclose(rebuilt, log_spectrum, atol=1e-12)
    flat = mel_cepstrum(np.full((20, 2), 1.5), coefficients=5)
    np.testing.assert_allclose(flat, [[1.5, 1.5]] + [[0.0, 0.0]] * 4, atol=1e-12)


def test_mcd_of_a_known_difference() -> None:
    a = np.zeros((3, 1))
    b = np.array([[7.0], [0.1], [0.0]])  # c0 differs too, and is ignored
    expected = 10 / math.log(10) * math.sqrt(2 * 0.1**2)
    assert mel_cepstral_distortion(a, b) == pytest.approx(expected)


def speech_like(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """Harmonics of a gliding pitch through two moving resonances, with syllable-like bursts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    formant1 = 500 + 300 * np.sin(2 * np.pi * 2.1 * t)
    formant2 = 1500 + 600 * np.cos(2 * np.pi * 1.7 * t)
    wave = np.zeros_like(t)
    for k in range(1, 30):
        freq = k * f0
        gain = np.exp(-(((freq - formant1) / 200) ** 2)) + np.exp(-(((freq - formant2) / 300) ** 2))
        wave += gain * np.sin(k * phase) / k
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t) ** 2
    wave = envelope * wave + 0.001 * rng.standard_normal(t.size)
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return utterance_cepstra(speech_like(), RATE)


def test_mcd_of_identical_recordings_is_zero(clean: np.ndarray) -> None:
    assert mel_cepstral_distortion(clean, clean) == pytest.approx(0.0, abs=1e-6)


def test_mcd_ignores_level_and_timing(clean: np.ndarray) -> None:
    quieter = utterance_cepstra(speech_like() * 0.25, RATE)
    assert mel_cepstral_distortion(clean, quieter) < 0.05
    slower = np.repeat(clean, 2, axis=1)  # every frame twice: the same speech, half as fast
    assert mel_cepstral_distortion(clean, slower) == pytest.approx(0.0, abs=1e-6)


def test_mcd_is_symmetric(clean: np.ndarray) -> None:
    other = utterance_cepstra(speech_like(1.3, seed=1)[::-1].copy(), RATE)
    forward, backward = mel_cepstral_distortion(clean, other), mel_cepstral_distortion(other, clean)
    assert forward > 1.0
    assert forward == pytest.approx(backward, rel=1e-9)


def test_mcd_grows_with_added_noise(clean: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    wave = speech_like()
    noise = rng.standard_normal(wave.size).astype(np.float32)
    scores = [
        mel_cepstral_distortion(clean, utterance_cepstra(wave + level * noise, RATE))
        for level in (0.002, 0.01, 0.05, 0.2)
    ]
    assert scores[0] > 0.0
    assert scores == sorted(set(scores)), scores


def test_resampling_makes_rates_comparable() -> None:
    wave = speech_like()
    at_24k = soxr.resample(wave, RATE, 24000).astype(np.float32)
    same = mel_cepstral_distortion(utterance_cepstra(wave, RATE), utterance_cepstra(at_24k, 24000))
    assert same < 0.3


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        (np.zeros((25, 0)), np.zeros((25, 4)), "source: expected"),
        (np.zeros((25, 4)), np.zeros((13, 4)), "target: 13 coefficients, source 25"),
        (np.zeros((25, 4)), np.full((25, 4), np.nan), "target: cepstra hold NaN"),
    ],
)
def test_mcd_rejects_bad_cepstra(source: np.ndarray, target: np.ndarray, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        mel_cepstral_distortion(source, target)


def test_too_short_a_wave_is_an_error() -> None:
    with pytest.raises(EvaluationError, match="too short"):
        utterance_cepstra(np.zeros(100, np.float32), RATE)
