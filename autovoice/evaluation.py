"""Measures of a voice: word error rate of a transcript, mel cepstral distortion of two
recordings. Pure and torch-free: values in, values out.

Word error rate compares words after :func:`score_words` puts both texts in one spoken form
(numbers read aloud by the project's normalizer, lower case, no punctuation), so that "$45" and
"forty five dollars" agree. Errors are counted by a word-level Levenshtein alignment; a corpus
rate is the errors of every sentence over the words of every reference (not a mean of rates).

Mel cepstral distortion compares two utterances of the same text frame by frame after dynamic
time warping; see :func:`mel_cepstral_distortion` for the definition used.

Over-smoothing (the flattened harmonics, blurred transitions and lost variance of mels trained
with reconstruction losses) is measured on :func:`analyse`-d recordings against a reference
speaking the same sentences: :func:`global_variance` of each log-mel band,
:func:`modulation_spectrum` of the band trajectories, :func:`pitch_errors` along the DTW path
(:func:`align`), and :func:`duration_errors` of phonemes projected through that path.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.audio.features import log_mel
from autovoice.audio.process import resample, trim_silence
from autovoice.config.schema import AudioConfig
from autovoice.data.dtw import dtw_path
from autovoice.errors import AutovoiceError
from autovoice.text import normalize_text

__all__ = [
    "CEPSTRA",
    "GATE_DB",
    "MCD_ANALYSIS",
    "MODULATION_FRAMES",
    "PHONEME_CLASSES",
    "Analysis",
    "DurationErrors",
    "EvaluationError",
    "PitchErrors",
    "WordErrors",
    "align",
    "analyse",
    "band_centres",
    "corpus_word_errors",
    "duration_errors",
    "frame_seconds",
    "global_variance",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "modulation_distance",
    "modulation_spectrum",
    "path_distortion",
    "phoneme_class",
    "pitch_errors",
    "projected_seconds",
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
    distances = _paired_distances(a, b)
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
    return mel_cepstrum(log_mel(trimmed, MCD_ANALYSIS), coefficients)


def _paired_distances(a: Array, b: Array) -> Array:
    """Euclidean distances ``(N, M)`` between the frames of cepstra ``a`` and ``b`` (c1 …)."""
    squared = (a * a).sum(0)[:, None] + (b * b).sum(0)[None, :] - 2.0 * (a.T @ b)
    return np.asarray(np.sqrt(np.maximum(squared, 0.0)))


# -- over-smoothing -----------------------------------------------------------------------------
#
# Mels predicted with reconstruction losses come out smoother than speech: flatter harmonics,
# blurred transitions, less variance. The measures below compare a voice's recordings with the
# teacher's recordings of the same sentences, all analysed alike (:func:`analyse`): the global
# variance of each log-mel band, the modulation spectrum of the band trajectories, f0 along the
# DTW path of the two utterances, and phoneme durations projected through that path.

GATE_DB = 40.0
"""Frames quieter than this below an utterance's loudest frame are left out of the variance."""
MODULATION_FRAMES = 64
"""Frames per modulation-spectrum segment (about 0.74 s at the analysis hop)."""
PHONEME_CLASSES = {
    "vowel": set("aeiouyæɐɑɒɔəɘɚɛɜɝɞɨɪʉʊʌʏøœɶɤɯɵᵻ"),
    "stop": set("pbtdkgɡqcɟʔʈɖ"),
    "fricative": set("fvθðszʃʒhçxɣχʁɸβɦʂʐɕʑ"),
    "nasal": set("mnŋɲɳɴɱ"),
    "approximant": set("lɹrwjɾɫʋɻʎʍɥɭɺɽ"),
    "pause": set(" .,!?;:-—'\"…"),
}
"""Symbol classes for duration errors; a symbol in none of them is ``other`` (stress and length
marks, affricate ties)."""


@attrs.frozen(kw_only=True)
class Analysis:
    """One recording as the over-smoothing measures see it (:data:`MCD_ANALYSIS` settings)."""

    log_mel: Array
    """``(n_mels, frames)`` natural-log mel of the recording, leading and trailing silence cut."""
    cepstra: Array
    """``(CEPSTRA + 1, frames)`` mel cepstra of ``log_mel``."""
    f0: Array
    """``(frames,)`` f0 in Hz, 0 where unvoiced."""
    start: float
    """Seconds of the recording cut from its front."""

    @property
    def frames(self) -> int:
        return int(self.log_mel.shape[1])


def frame_seconds(audio: AudioConfig = MCD_ANALYSIS) -> float:
    """Seconds per analysis frame."""
    return audio.hop_length / audio.sample_rate


def analyse(wave: npt.ArrayLike, sample_rate: int) -> Analysis:
    """``wave`` at ``sample_rate`` resampled to the :data:`MCD_ANALYSIS` rate, trimmed as
    :func:`utterance_cepstra` trims it, and analysed: log-mel, cepstra, f0."""
    from autovoice.audio.pitch import estimate_pitch

    rate = MCD_ANALYSIS.sample_rate
    audio = resample(np.asarray(wave, dtype=np.float32), sample_rate, rate)
    if audio.size < MCD_ANALYSIS.n_fft:
        raise EvaluationError(f"wave: {audio.size} samples, too short to analyse")
    trimmed, (start, _) = trim_silence(audio, _TRIM_DB, frame_length=1024, hop_length=256)
    spectrum = np.asarray(log_mel(trimmed, MCD_ANALYSIS), dtype=np.float64)
    f0 = estimate_pitch(
        trimmed,
        sample_rate=rate,
        hop_length=MCD_ANALYSIS.hop_length,
        n_frames=spectrum.shape[1],
    )
    return Analysis(
        log_mel=spectrum,
        cepstra=mel_cepstrum(spectrum),
        f0=np.asarray(f0, dtype=np.float64),
        start=start / rate,
    )


def align(source: Analysis, target: Analysis) -> npt.NDArray[np.int64]:
    """The DTW path ``(K, 2)`` pairing the frames of two analyses, on the distance of their
    cepstra ``c1 …`` (the path :func:`mel_cepstral_distortion` averages over)."""
    distances = _paired_distances(source.cepstra[1:], target.cepstra[1:])
    return dtw_path(distances)


def path_distortion(source: Analysis, target: Analysis, path: npt.ArrayLike) -> float:
    """MCD in dB of two analyses along ``path`` (from :func:`align`)."""
    pairs = np.asarray(path, dtype=np.int64)
    difference = source.cepstra[1:, pairs[:, 0]] - target.cepstra[1:, pairs[:, 1]]
    return float(_MCD_SCALE * np.sqrt((difference**2).sum(0)).mean())


def band_centres(audio: AudioConfig = MCD_ANALYSIS) -> Array:
    """Centre frequency in Hz of each mel band of ``audio``'s filterbank."""
    from autovoice.audio.features import hz_to_mel, mel_to_hz

    edges = np.linspace(hz_to_mel(audio.f_min), hz_to_mel(audio.f_max), audio.n_mels + 2)
    return np.asarray(mel_to_hz(edges[1:-1]), dtype=np.float64)


def _nonempty(items: Sequence[object], name: str) -> None:
    if not items:
        raise EvaluationError(f"{name}: no recordings to measure")


def global_variance(analyses: Sequence[Analysis], gate_db: float = GATE_DB) -> Array:
    """``(n_mels,)``: the variance over time of each log-mel band, taken over an utterance's
    active frames (within ``gate_db`` of its loudest) and averaged over the utterances."""
    _nonempty(analyses, "analyses")
    floor = gate_db / (20.0 / math.log(10.0))  # dB of amplitude to natural-log units
    variances = []
    for item in analyses:
        level = np.log(np.exp(item.log_mel).sum(0))
        active = item.log_mel[:, level >= level.max() - floor]
        variances.append(active.var(axis=1))
    return np.asarray(np.mean(variances, axis=0), dtype=np.float64)


def modulation_spectrum(analyses: Sequence[Analysis], frames: int = MODULATION_FRAMES) -> Array:
    """``(n_mels, frames // 2 + 1)`` in dB: the mean power spectrum of each band's log-mel
    trajectory (its mean removed) over Hann-windowed segments of ``frames`` frames, half
    overlapping, of every utterance; an utterance shorter than a segment is one segment padded
    with its mean. The columns are modulation frequencies ``k / (frames · frame_seconds())``."""
    _nonempty(analyses, "analyses")
    if frames < 4:
        raise EvaluationError(f"frames: must be >= 4, got {frames}")
    window = np.hanning(frames + 2)[1:-1]
    total, count = np.zeros((analyses[0].log_mel.shape[0], frames // 2 + 1)), 0
    for item in analyses:
        band = item.log_mel - item.log_mel.mean(axis=1, keepdims=True)
        if band.shape[1] < frames:
            band = np.pad(band, ((0, 0), (0, frames - band.shape[1])))
        for begin in range(0, band.shape[1] - frames + 1, frames // 2):
            spectrum = np.fft.rfft(band[:, begin : begin + frames] * window, axis=1)
            total = total + np.abs(spectrum) ** 2
            count += 1
    mean = total / count
    return np.asarray(10.0 * np.log10(mean + 1e-12), dtype=np.float64)


def modulation_distance(source: npt.ArrayLike, target: npt.ArrayLike) -> float:
    """Root-mean-square difference in dB of two modulation spectra (:func:`modulation_spectrum`),
    the constant (0 Hz) column left out."""
    a, b = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] < 2:
        raise EvaluationError(f"target: modulation spectrum {b.shape}, source {a.shape}")
    return float(np.sqrt(((a[:, 1:] - b[:, 1:]) ** 2).mean()))


@attrs.frozen(kw_only=True)
class PitchErrors:
    """f0 of one voice against a reference along DTW paths, over frames voiced in both."""

    rmse_cents: float
    """Root-mean-square f0 difference in cents, pooled over every voiced pair of frames."""
    correlation: float
    """Mean over utterances of the Pearson correlation of log f0 (NaN when none qualifies)."""
    voicing_error: float
    """Fraction of paired frames voiced in one recording and not the other."""
    frames: int
    """Paired frames voiced in both."""


MIN_CORRELATION_FRAMES = 10
"""Voiced pairs an utterance needs for its f0 correlation to count."""


def pitch_errors(
    pairs: Sequence[tuple[Analysis, Analysis, npt.ArrayLike]],
) -> PitchErrors:
    """:class:`PitchErrors` of ``(source, reference, path)`` triples (paths from :func:`align`)."""
    _nonempty(pairs, "pairs")
    cents: list[Array] = []
    correlations: list[float] = []
    mismatched = paired = 0
    for source, reference, path in pairs:
        steps = np.asarray(path, dtype=np.int64)
        a, b = source.f0[steps[:, 0]], reference.f0[steps[:, 1]]
        both = (a > 0) & (b > 0)
        mismatched += int(((a > 0) != (b > 0)).sum())
        paired += len(steps)
        if not both.any():
            continue
        logs = np.log2(a[both]), np.log2(b[both])
        cents.append(1200.0 * (logs[0] - logs[1]))
        if both.sum() >= MIN_CORRELATION_FRAMES and logs[0].std() > 0 and logs[1].std() > 0:
            correlations.append(float(np.corrcoef(logs[0], logs[1])[0, 1]))
    pooled = np.concatenate(cents) if cents else np.zeros(0)
    return PitchErrors(
        rmse_cents=float(np.sqrt((pooled**2).mean())) if pooled.size else math.nan,
        correlation=statistics.fmean(correlations) if correlations else math.nan,
        voicing_error=mismatched / paired if paired else math.nan,
        frames=int(pooled.size),
    )


def phoneme_class(symbol: str) -> str:
    """The class (:data:`PHONEME_CLASSES`) of a symbol's first character; ``other`` if none."""
    first = symbol[:1]
    for name, members in PHONEME_CLASSES.items():
        if first in members:
            return name
    return "other"


def projected_seconds(
    boundaries: npt.ArrayLike, source: Analysis, target: Analysis, path: npt.ArrayLike
) -> Array:
    """Times (seconds in the source recording) carried to the target recording along
    ``path``: each becomes a source frame (the trimmed front taken off), and that frame the
    first target frame the path pairs it with; times past the source's last frame go to the
    target's end. Returns seconds in the target's trimmed recording, plus its ``start``."""
    step = frame_seconds()
    steps = np.asarray(path, dtype=np.int64)
    first = np.full(source.frames, target.frames, dtype=np.int64)
    np.minimum.at(first, steps[:, 0], steps[:, 1])
    lookup = np.append(first, target.frames)
    frames = np.rint((np.asarray(boundaries, dtype=np.float64) - source.start) / step)
    index = np.clip(frames, 0, source.frames).astype(np.int64)
    return np.asarray(lookup[index] * step + target.start, dtype=np.float64)


@attrs.frozen(kw_only=True)
class DurationErrors:
    """Per phoneme class: how far a voice's phoneme durations are from the reference's."""

    mean_absolute_ms: dict[str, float]
    mean_signed_ms: dict[str, float]
    """Positive where the voice's phonemes are longer than the reference's."""
    counts: dict[str, int]


def duration_errors(
    items: Sequence[tuple[Sequence[tuple[str, float, float]], Analysis, Analysis, npt.ArrayLike]],
) -> DurationErrors:
    """:class:`DurationErrors` of ``(phonemes, source, reference, path)``, where ``phonemes``
    are the source voice's own ``(symbol, start, end)`` seconds (its predicted durations): each
    phoneme's reference duration is the stretch of the reference recording its boundaries
    project to (:func:`projected_seconds`)."""
    _nonempty(items, "items")
    errors: dict[str, list[float]] = {}
    for phonemes, source, reference, path in items:
        if not phonemes:
            continue
        times = np.asarray([[start, end] for _, start, end in phonemes], dtype=np.float64)
        if (times[:, 1] < times[:, 0]).any() or not np.isfinite(times).all():
            raise EvaluationError("phonemes: a phoneme ends before it starts, or a time is NaN")
        projected = projected_seconds(times.ravel(), source, reference, path).reshape(-1, 2)
        first, last = source.start, source.start + source.frames * frame_seconds()
        clipped = np.clip(times, first, last)
        ours = clipped[:, 1] - clipped[:, 0]
        theirs = projected[:, 1] - projected[:, 0]
        for (symbol, _, _), a, b in zip(phonemes, ours, theirs, strict=True):
            errors.setdefault(phoneme_class(symbol), []).append(1000.0 * float(a - b))
    return DurationErrors(
        mean_absolute_ms={k: statistics.fmean(abs(e) for e in v) for k, v in errors.items()},
        mean_signed_ms={k: statistics.fmean(v) for k, v in errors.items()},
        counts={k: len(v) for k, v in errors.items()},
    )
