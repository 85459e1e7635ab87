"""A corpus spoken by a teacher voice: thousands of sentences read by an existing TTS system.

eSpeak NG is clear but robotic; a model trained on it sounds robotic too. A natural teacher voice
(``hibari``: the ``hibari-tts`` package, Apache-2.0, an optional extra) reads the demo sentences,
the reading sentences (``reading.txt``, written for autovoice) and thousands more from
:mod:`autovoice.corpus.generate`, and the result is an ordinary corpus: LJSpeech
``metadata.csv``, ``manifest.jsonl``, 16-bit wavs. Sentences kept for evaluation
(``heldout.txt``) are never spoken. Third-party teachers are named ``module:factory``, where the
factory takes ``threads=`` and returns an object with ``name``, ``sample_rate``,
``speak(text, seed) -> float array`` and ``describe() -> str``.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np

from autovoice.audio.io import write_audio
from autovoice.audio.process import peak_normalize, resample, trim_silence
from autovoice.corpus._files import wav_path, write_index
from autovoice.corpus.demo import CorpusError, load_sentences
from autovoice.corpus.generate import generate_sentences

__all__ = [
    "DistillReport",
    "Teacher",
    "clean_recording",
    "load_heldout",
    "load_reading",
    "load_teacher",
    "make_distilled_corpus",
]

_PEAK = 0.9
_TRIM_DB = 45.0
_MARGIN_S = 0.08


class Teacher(Protocol):
    """A voice that reads text aloud; one speaker."""

    @property
    def name(self) -> str: ...
    @property
    def sample_rate(self) -> int: ...
    def speak(self, text: str, seed: int) -> np.ndarray: ...
    def describe(self) -> str: ...


class _Hibari:
    """A ``hibari-tts`` voice: its default (``heart``: American English, female, 24 kHz) or the
    one ``hibari/VOICE`` names (``emma``, ``fenrir``, ...: fetched by hibari on first use)."""

    def __init__(self, threads: int, voice: str | None = None) -> None:
        try:
            hibari = importlib.import_module("hibari")
        except ImportError:
            raise CorpusError(
                "teacher 'hibari' needs the hibari-tts package: pip install 'autovoice[teacher]'"
            ) from None
        known = list(getattr(importlib.import_module("hibari.voices"), "VOICES", ()))
        if voice is not None and voice not in known:
            raise CorpusError(f"teacher: hibari has no voice {voice!r}; voices: {', '.join(known)}")
        try:
            self._tts = hibari.Hibari(threads=threads, **({"voice": voice} if voice else {}))
        except (OSError, RuntimeError) as error:
            raise CorpusError(f"teacher 'hibari/{voice}': {error}") from None
        self._version = importlib.metadata.version("hibari-tts")
        self._voice = voice
        self.name = f"hibari-{voice}" if voice else "hibari"
        self.sample_rate = int(self._tts.sample_rate)

    def speak(self, text: str, seed: int) -> np.ndarray:
        return np.asarray(self._tts(text, seed=seed), dtype=np.float32)

    def describe(self) -> str:
        which = f"voice {self._voice}" if self._voice else "default voice"
        return f"hibari-tts {self._version} (Apache-2.0), {which}"


_TEACHERS: dict[str, Any] = {"hibari": _Hibari}


def load_teacher(spec: str, *, threads: int = 1) -> Teacher:
    """A built-in teacher by name (``hibari``), one of its voices (``hibari/kore``: the corpus'
    speaker is then ``hibari-kore``) or a third-party teacher as ``module:factory``."""
    name, slash, voice = spec.partition("/")
    if name in _TEACHERS and (slash == "" or voice):
        teacher: Teacher = _TEACHERS[name](threads, *([voice] if voice else []))
        return teacher
    module, _, attr = spec.partition(":")
    if not attr:
        known = ", ".join(sorted(_TEACHERS))
        raise CorpusError(
            f"teacher: unknown {spec!r}; use one of {known} (or {known}/VOICE) or module:factory"
        )
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as error:
        raise CorpusError(f"teacher: cannot load {spec!r}: {error}") from None
    loaded: Teacher = factory(threads=threads)
    return loaded


def load_heldout() -> list[str]:
    """Sentences kept out of every distilled corpus, for measuring the voices trained on it."""
    path = resources.files("autovoice.corpus").joinpath("heldout.txt")
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]


@attrs.frozen(kw_only=True)
class _Speaker:
    name: str


@attrs.frozen(kw_only=True)
class _Row:
    id: str
    speaker: _Speaker
    raw: str
    text: str


@attrs.frozen(kw_only=True)
class DistillReport:
    """What :func:`make_distilled_corpus` wrote."""

    out_dir: Path
    teacher: str
    utterances: int
    hours: float
    seconds: float


def load_reading() -> list[str]:
    """The reading sentences written for autovoice's distilled corpora (``reading.txt``: about
    1,800 everyday sentences with a vocabulary of some 6,800 words, far wider than the
    grammar's), in file order."""
    path = resources.files("autovoice.corpus").joinpath("reading.txt")
    return [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]


def corpus_sentences(generated: int, seed: int, *, builtin: bool = True) -> list[str]:
    """The built-in sentences (when ``builtin``: the demo sentences, then the reading sentences)
    then ``generated`` grammar ones, less held-out ones and repeats."""
    held = {s.casefold() for s in load_heldout()}
    chosen = load_sentences() + load_reading() if builtin else []
    chosen += generate_sentences(generated, np.random.default_rng(seed))
    return [s for s in dict.fromkeys(chosen) if s.casefold() not in held]


def clean_recording(wave: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """A teacher's recording at ``rate`` as the corpus keeps it: silence trimmed (with a short
    margin), resampled to ``sample_rate``, peak-normalized."""
    if wave.size:
        _, (start, end) = trim_silence(wave, _TRIM_DB, frame_length=512, hop_length=128)
        margin = int(_MARGIN_S * rate)
        wave = wave[max(0, start - margin) : min(wave.size, end + margin)]
    return peak_normalize(resample(wave, rate, sample_rate), _PEAK) if wave.size else wave


def _progress(total: int, progress: bool) -> Any:
    if not progress:
        return None
    return importlib.import_module("tqdm").tqdm(total=total, unit="utt", desc="distill")


def _speak_all(
    teacher: Teacher, rows: Sequence[_Row], folder: Path, sample_rate: int, progress: bool
) -> list[float]:
    bar = _progress(len(rows), progress)
    durations = []
    for number, row in enumerate(rows):
        wave = clean_recording(teacher.speak(row.text, number), teacher.sample_rate, sample_rate)
        if wave.size == 0:
            raise CorpusError(f"teacher {teacher.name!r} produced no audio for {row.text!r}")
        write_audio(folder / wav_path(row.id), wave, sample_rate)
        durations.append(wave.size / sample_rate)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return durations


def _write_notes(folder: Path, teacher: Teacher, rows: int, seed: int, sample_rate: int) -> None:
    speakers = {"0": {"name": teacher.name, "teacher": teacher.describe()}}
    (folder / "speakers.json").write_text(json.dumps(speakers, indent=2) + "\n", "utf-8")
    text = _README.format(teacher=teacher.describe(), rows=rows, seed=seed, rate=sample_rate)
    (folder / "README.txt").write_text(text, encoding="utf-8")


def make_distilled_corpus(
    out_dir: str | os.PathLike[str],
    *,
    teacher: str | Teacher = "hibari",
    generated: int = 3000,
    builtin: bool = True,
    seed: int = 0,
    sample_rate: int = 22050,
    threads: int = 1,
    progress: bool = False,
) -> DistillReport:
    """Have ``teacher`` read the built-in and ``generated`` grammar sentences into ``out_dir``."""
    from autovoice.corpus.demo import _check_arguments
    from autovoice.text import normalize_text

    start = time.perf_counter()
    folder = Path(out_dir)
    _check_arguments(folder, sample_rate, None)
    if generated < 0:
        raise CorpusError(f"generated must be >= 0, got {generated}")
    voice = load_teacher(teacher, threads=threads) if isinstance(teacher, str) else teacher
    speaker = _Speaker(name=voice.name)
    rows = [
        _Row(id=f"{voice.name}_{n:05d}", speaker=speaker, raw=s, text=normalize_text(s))
        for n, s in enumerate(corpus_sentences(generated, seed, builtin=builtin), start=1)
    ]
    if not rows:
        raise CorpusError("no sentences to speak: generated is 0 and builtin is off")
    (folder / "wavs").mkdir(parents=True, exist_ok=True)
    durations = _speak_all(voice, rows, folder, sample_rate, progress)
    write_index(folder, rows, durations)
    _write_notes(folder, voice, len(rows), seed, sample_rate)
    return DistillReport(
        out_dir=folder,
        teacher=voice.describe(),
        utterances=len(rows),
        hours=sum(durations) / 3600.0,
        seconds=time.perf_counter() - start,
    )


_README = """\
autovoice distilled corpus
==========================

Speech by a teacher voice: {teacher}.
{rows} sentences: those shipped with autovoice (demo and reading sentences) and sentences drawn
from autovoice's own grammar
(seed {seed}); the held-out evaluation sentences are never included.

Files
  metadata.csv    LJSpeech style: id|raw text|normalized text (the normalized text is spoken)
  manifest.jsonl  one JSON object per utterance: audio_filepath, text, speaker, duration
  speakers.json   speaker index -> name and teacher
  wavs/<id>.wav   16-bit PCM mono, {rate} Hz, peak 0.9, leading and trailing silence trimmed
"""
