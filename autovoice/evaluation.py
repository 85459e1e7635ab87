"""Measures of a voice: word error rate of a transcript, mel cepstral distortion of two
recordings. Pure and torch-free: values in, values out.

Word error rate compares words after :func:`score_words` puts both texts in one spoken form
(numbers read aloud by the project's normalizer, lower case, no punctuation), so that "$45" and
"forty five dollars" agree. Errors are counted by a word-level Levenshtein alignment; a corpus
rate is the errors of every sentence over the words of every reference (not a mean of rates).

Mel cepstral distortion compares two utterances of the same text frame by frame after dynamic
time warping; see :func:`mel_cepstral_distortion` for the definition used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.audio.features import log_mel_from_config
from autovoice.audio.process import resample, trim_silence
from autovoice.config.schema import AudioConfig
from autovoice.data.dtw import dtw_path
from autovoice.errors import AutovoiceError
from autovoice.text import normalize_text

__all__ = [
    "CEPSTRA",
    "MCD_ANALYSIS",
    "EvaluationError",
    "WordErrors",
    "corpus_word_errors",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "score_words",
    "utterance_cepstra",
    "word_errors",
]

Array = npt.NDArray[np.float64]

CEPSTRA = 24
"""Mel-cepstral coefficients compared by MCD: ``c1 … c24`` (``c0``, the level, is left out)."""
MCD_ANALYSIS = AudioConfig(
    sample_rate=22050, n_fft=1024, win_length=1024, hop_length=256, n_mels=80, f_max=8000.0
)
"""The log-mel analysis both recordings go through before MCD, whatever their own rates."""
_TRIM_DB = 40.0
_MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)
_NOT_WORD = re.compile(r"[^a-z0-9']+")


class EvaluationError(AutovoiceError):
    """Inputs a measure cannot be computed from; the message names the argument."""


# -- word error rate ----------------------------------------------------------------------------


def score_words(text: str, language: str = "en") -> list[str]:
    """The words of ``text`` as scored: normalized (numbers, symbols and abbreviations read
    aloud), lower-cased, split at anything but letters, digits and inner apostrophes."""
    spoken = normalize_text(text, language).lower()
    words = (word.strip("'") for word in _NOT_WORD.split(spoken))
    return [word for word in words if word]


@attrs.frozen(kw_only=True)
class WordErrors:
    """Substitutions, deletions and insertions against ``reference_words`` reference words."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_words: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """Errors per reference word (can exceed 1); NaN when there are no reference words."""
        return self.errors / self.reference_words if self.reference_words else math.nan

    def __add__(self, other: WordErrors) -> WordErrors:
        return WordErrors(
            substitutions=self.substitutions + other.substitutions,
            deletions=self.deletions + other.deletions,
            insertions=self.insertions + other.insertions,
            reference_words=self.reference_words + other.reference_words,
        )


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> WordErrors:
    """The fewest edits turning the ``reference`` words into the ``hypothesis`` words; among
    alignments with as few edits, the one with the most substitutions."""
    # cell: (edits, -substitutions, deletions, insertions); tuples order by edits first
    previous = [(j, 0, 0, j) for j in range(len(hypothesis) + 1)]
    for i, word in enumerate(reference, start=1):
        current = [(i, 0, i, 0)]
        for j, heard in enumerate(hypothesis, start=1):
            same = word == heard
            diagonal = previous[j - 1]
            options = (
                (diagonal[0] + (not same), diagonal[1] - (not same), *diagonal[2:]),
                (previous[j][0] + 1, previous[j][1], previous[j][2] + 1, previous[j][3]),
                (current[j - 1][0] + 1, *current[j - 1][1:3], current[j - 1][3] + 1),
            )
            current.append(min(options))
        previous = current
    _, negative_subs, deletions, insertions = previous[-1]
    return WordErrors(
        substitutions=-negative_subs,
        deletions=deletions,
        insertions=insertions,
        reference_words=len(reference),
    )


def corpus_word_errors(
    references: Sequence[str], hypotheses: Sequence[str], language: str = "en"
) -> tuple[WordErrors, list[WordErrors]]:
    """The summed errors of transcripts ``hypotheses`` against texts ``references`` (both put
    through :func:`score_words`), and each sentence's own."""
    if len(references) != len(hypotheses):
        raise EvaluationError(
            f"hypotheses: {len(hypotheses)} transcripts for {len(references)} references"
        )
    each = [
        word_errors(score_words(ref, language), score_words(hyp, language))
        for ref, hyp in zip(references, hypotheses, strict=True)
    ]
    return sum(each, WordErrors()), each


# -- mel cepstral distortion --------------------------------------------------------------------


def mel_cepstrum(log_mel_frames: npt.ArrayLike, coefficients: int = CEPSTRA + 1) -> Array:
    """``(coefficients, frames)`` cepstra ``c0 …`` of a natural-log mel amplitude spectrogram
    ``(n_mels, frames)``: the cosine transform for which ``log S(m) = c0 + 2 Σ c_d
    cos(π d (m + ½) / n_mels)``, the convention the MCD formula assumes."""
    spectrum = np.asarray(log_mel_frames, dtype=np.float64)
    if spectrum.ndim != 2 or spectrum.shape[1] == 0:
        raise EvaluationError(f"log_mel: expected (n_mels, frames > 0), got {spectrum.shape}")
    n_mels = spectrum.shape[0]
    if not 1 <= coefficients <= n_mels:
        raise EvaluationError(f"coefficients: must be between 1 and {n_mels}, got {coefficients}")
    d = np.arange(coefficients)[:, None]
    basis = np.cos(np.pi * d * (np.arange(n_mels)[None, :] + 0.5) / n_mels) / n_mels
    return np.asarray(basis @ spectrum)


def mel_cepstral_distortion(source: npt.ArrayLike, target: npt.ArrayLike) -> float:
    """MCD in dB between mel cepstra ``(coefficients, frames)`` of two utterances, ``c0``
    excluded: the frames are paired by DTW on the Euclidean distance of ``c1 …``, and the
    distortion ``10 / ln 10 · sqrt(2 Σ_d (c_d - c'_d)²)`` averaged over the pairs."""
    a, b = (_without_c0(name, c) for name, c in (("source", source), ("target", target)))
    if a.shape[0] != b.shape[0]:
        raise EvaluationError(f"target: {b.shape[0] + 1} coefficients, source {a.shape[0] + 1}")
    squared = (a * a).sum(0)[:, None] + (b * b).sum(0)[None, :] - 2.0 * (a.T @ b)
    distances = np.sqrt(np.maximum(squared, 0.0))
    path = dtw_path(distances)
    return float(_MCD_SCALE * distances[path[:, 0], path[:, 1]].mean())


def _without_c0(name: str, cepstra: npt.ArrayLike) -> Array:
    values = np.asarray(cepstra, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] == 0:
        shape = values.shape
        raise EvaluationError(f"{name}: expected (coefficients > 1, frames > 0), got {shape}")
    if not np.isfinite(values).all():
        raise EvaluationError(f"{name}: cepstra hold NaN or infinity")
    return values[1:]


def utterance_cepstra(
    wave: npt.ArrayLike, sample_rate: int, coefficients: int = CEPSTRA + 1
) -> Array:
    """Mel cepstra of one recording for MCD: resampled to the :data:`MCD_ANALYSIS` rate, leading
    and trailing silence (40 dB below the loudest frame) trimmed, log-mel, cosine transform."""
    audio = resample(np.asarray(wave, dtype=np.float32), sample_rate, MCD_ANALYSIS.sample_rate)
    if audio.size < MCD_ANALYSIS.n_fft:
        raise EvaluationError(f"wave: {audio.size} samples, too short to analyse")
    trimmed, _ = trim_silence(audio, _TRIM_DB, frame_length=1024, hop_length=256)
    return mel_cepstrum(log_mel_from_config(trimmed, MCD_ANALYSIS), coefficients)
