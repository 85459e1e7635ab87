"""A small multi-speaker English corpus spoken by eSpeak NG, made on the spot and owned by nobody.

Every sentence of ``sentences.txt`` (original text shipped with autovoice) is spoken by every
speaker, so the corpus serves single-speaker, multi-speaker and paired datasets alike. Speakers
are eSpeak NG voice variants with a rate, pitch and pitch range drawn from the seed; the same
arguments give byte-identical files.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.context
import os
import re
import time
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from autovoice import espeak
from autovoice.audio.io import write_audio
from autovoice.audio.process import peak_normalize, resample, trim_silence
from autovoice.corpus._files import wav_path, write_index, write_readme, write_speakers
from autovoice.errors import AutovoiceError

LANGUAGE = "en-us"
_PREFERRED = ("f2", "m6")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")
_RATE = (150, 196)  # words per minute, [low, high)
_PITCH = (35, 66)
_PITCH_RANGE = (35, 71)
_TRIM_DB = 40.0  # frames this far below the loudest frame count as silence
_MARGIN_S = 0.05  # silence kept at each end after trimming
_VOLUME = 50  # eSpeak volume: at its normal 100 some variants (klatt4) clip
_PEAK = 0.9  # every utterance is scaled to this peak
_CHUNK = 32  # utterances per worker process


class CorpusError(AutovoiceError):
    """A corpus that cannot be made or read; the message names the folder, file or argument."""


@attrs.frozen(kw_only=True)
class DemoSpeaker:
    """One speaker of the demo corpus: an eSpeak NG voice and its prosody settings."""

    index: int
    name: str
    voice: str
    rate: int
    pitch: int
    pitch_range: int


@attrs.frozen(kw_only=True)
class DemoCorpusReport:
    """What :func:`make_demo_corpus` wrote: folder, speaker and utterance counts, audio hours."""

    out_dir: Path
    speakers: int
    utterances: int
    hours: float
    seconds: float  # wall-clock time taken to make the corpus


def load_sentences() -> list[str]:
    """The demo sentences shipped with autovoice, in file order, blank lines skipped."""
    text = resources.files("autovoice.corpus").joinpath("sentences.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _klatt_order(name: str) -> int:
    suffix = name.removeprefix("klatt")
    return int(suffix) if suffix else 1


def choose_variants(available: Iterable[str], count: int) -> list[str]:
    """``count`` variant names: the klatt family in order, then f2, m6, then the rest by name."""
    names = sorted(name for name in set(available) if _PLAIN_NAME.fullmatch(name))
    klatt = sorted((n for n in names if re.fullmatch(r"klatt\d*", n)), key=_klatt_order)
    preferred = [n for n in _PREFERRED if n in names]
    rest = [n for n in names if n not in klatt and n not in preferred]
    ordered = [*klatt, *preferred, *rest]
    if not 1 <= count <= len(ordered):
        raise CorpusError(f"speakers must be between 1 and {len(ordered)}, got {count}")
    return ordered[:count]


def demo_speakers(variants: Sequence[str], rng: np.random.Generator) -> tuple[DemoSpeaker, ...]:
    """One speaker per variant, with rate, pitch and pitch range drawn from ``rng``."""
    return tuple(
        DemoSpeaker(
            index=index,
            name=f"spk{index:02d}",
            voice=f"{LANGUAGE}+{variant}",
            rate=int(rng.integers(*_RATE)),
            pitch=int(rng.integers(*_PITCH)),
            pitch_range=int(rng.integers(*_PITCH_RANGE)),
        )
        for index, variant in enumerate(variants)
    )


def _trim(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Drop leading and trailing silence, keeping a short margin at each end."""
    if wave.size == 0:
        return wave
    _, (start, end) = trim_silence(wave, _TRIM_DB, frame_length=512, hop_length=128)
    margin = int(_MARGIN_S * sample_rate)
    return wave[max(0, start - margin) : min(wave.size, end + margin)]


def _speak(text: str, speaker: DemoSpeaker, sample_rate: int) -> np.ndarray:
    wave, rate = espeak.synthesize(
        text,
        speaker.voice,
        rate=speaker.rate,
        pitch=speaker.pitch,
        pitch_range=speaker.pitch_range,
        volume=_VOLUME,
    )
    wave = _trim(wave, rate)
    if wave.size == 0:
        raise CorpusError(f"eSpeak NG produced no audio for {text!r} ({speaker.voice})")
    return peak_normalize(resample(wave, rate, sample_rate), _PEAK)


def speak_as_demo_speaker(
    text: str, *, index: int, speakers: int, seed: int = 0, sample_rate: int = 22050
) -> np.ndarray:
    """``text`` as speaker ``index`` of the corpus that :func:`make_demo_corpus` makes with
    ``speakers`` and ``seed`` speaks it (normalized as the corpus is): a reference recording."""
    from autovoice.text import normalize_text

    cast = demo_speakers(
        choose_variants(espeak.list_variants(), speakers), np.random.default_rng(seed)
    )
    return _speak(normalize_text(text, language="en"), cast[index], sample_rate)


@attrs.frozen(kw_only=True)
class Row:
    """One utterance: its id, speaker, the sentence as written and as spoken."""

    id: str
    speaker: DemoSpeaker
    raw: str
    text: str


@attrs.frozen(kw_only=True)
class _Job:
    """Utterances spoken in one fresh process: see :func:`_run_jobs`."""

    folder: Path
    rows: tuple[Row, ...]
    sample_rate: int


def _rows(raw: Sequence[str], texts: Sequence[str], cast: Sequence[DemoSpeaker]) -> list[Row]:
    """Every sentence for every speaker, speaker by speaker; ids like ``spk00_0001``."""
    return [
        Row(id=f"{speaker.name}_{number:04d}", speaker=speaker, raw=line, text=text)
        for speaker in cast
        for number, (line, text) in enumerate(zip(raw, texts, strict=True), start=1)
    ]


def _jobs(rows: Sequence[Row], folder: Path, sample_rate: int) -> list[_Job]:
    """Rows cut into fixed chunks of one speaker each; the cut depends on nothing else."""
    jobs: list[_Job] = []
    for speaker in dict.fromkeys(row.speaker for row in rows):
        mine = [row for row in rows if row.speaker == speaker]
        for start in range(0, len(mine), _CHUNK):
            chunk = tuple(mine[start : start + _CHUNK])
            jobs.append(_Job(folder=folder, rows=chunk, sample_rate=sample_rate))
    return jobs


def _speak_job(job: _Job) -> list[float]:
    """Speak and write the job's utterances in order; their durations in seconds."""
    try:
        durations = []
        for row in job.rows:
            wave = _speak(row.text, row.speaker, job.sample_rate)
            write_audio(job.folder / wav_path(row.id), wave, job.sample_rate)
            durations.append(wave.size / job.sample_rate)
        return durations
    except AutovoiceError as error:  # re-raised in the parent: keep it plainly picklable
        raise CorpusError(str(error)) from None


def _fresh_processes() -> multiprocessing.context.BaseContext:
    """Workers that start with a pristine libespeak-ng (never forked from a process using it)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _run_jobs(jobs: Sequence[_Job], workers: int, progress: bool) -> list[list[float]]:
    """Run each job in a process of its own, ``workers`` at a time; durations in job order.

    libespeak-ng keeps state from one utterance to the next in C statics (pitch flutter phase,
    noise generators), so the same call can sound slightly different later in a process. A new
    process per job, speaking a fixed list in a fixed order, makes the output reproducible.
    """
    results: dict[int, list[float]] = {}
    bar = _progress_bar(sum(len(job.rows) for job in jobs), progress)
    size = max(1, min(workers, len(jobs)))
    with _fresh_processes().Pool(processes=size, maxtasksperchild=1) as pool:
        for index, durations in pool.imap_unordered(_indexed, enumerate(jobs)):
            results[index] = durations
            if bar is not None:
                bar.update(len(durations))
    if bar is not None:
        bar.close()
    return [results[index] for index in range(len(jobs))]


def _indexed(item: tuple[int, _Job]) -> tuple[int, list[float]]:
    return item[0], _speak_job(item[1])


def _progress_bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    tqdm = importlib.import_module("tqdm").tqdm  # optional; may lack type stubs
    return tqdm(total=total, unit="utt", desc="demo corpus")


def _check_arguments(out_dir: Path, sample_rate: int, workers: int | None) -> None:
    if sample_rate <= 0:
        raise CorpusError(f"sample_rate must be > 0, got {sample_rate}")
    if workers is not None and workers < 1:
        raise CorpusError(f"workers must be >= 1, got {workers}")
    if out_dir.exists() and not out_dir.is_dir():
        raise CorpusError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise CorpusError(f"{out_dir}: folder is not empty; choose a new or empty folder")


def _pick_sentences(sentences: int | None) -> list[str]:
    available = load_sentences()
    if sentences is None:
        return available
    if not 1 <= sentences <= len(available):
        raise CorpusError(f"sentences must be between 1 and {len(available)}, got {sentences}")
    return available[:sentences]


def make_demo_corpus(
    out_dir: str | os.PathLike[str],
    *,
    speakers: int = 4,
    sentences: int | None = None,
    seed: int = 0,
    sample_rate: int = 22050,
    progress: bool = False,
    workers: int | None = None,
) -> DemoCorpusReport:
    """Speak the first ``sentences`` demo sentences (all when None) with ``speakers`` voices.

    Writes to ``out_dir`` (new or empty): ``metadata.csv`` (LJSpeech: ``id|raw|normalized``),
    ``wavs/<id>.wav`` (16-bit PCM at ``sample_rate``), ``manifest.jsonl``, ``speakers.json`` and
    ``README.txt``. The normalized text is what is spoken, so audio and transcript agree.
    Speech runs in ``workers`` processes (default: one per CPU); the files do not depend on it.
    """
    from autovoice.text import normalize_text

    start = time.perf_counter()
    folder = Path(out_dir)
    _check_arguments(folder, sample_rate, workers)
    raw = _pick_sentences(sentences)
    variants = choose_variants(espeak.list_variants(), speakers)
    cast = demo_speakers(variants, np.random.default_rng(seed))
    rows = _rows(raw, [normalize_text(line, language="en") for line in raw], cast)
    (folder / "wavs").mkdir(parents=True, exist_ok=True)
    jobs = _jobs(rows, folder, sample_rate)
    durations = [
        d for done in _run_jobs(jobs, workers or os.cpu_count() or 1, progress) for d in done
    ]
    write_index(folder, rows, durations)
    write_speakers(folder, cast)
    write_readme(folder, cast, len(raw), seed, sample_rate)
    return DemoCorpusReport(
        out_dir=folder,
        speakers=len(cast),
        utterances=len(rows),
        hours=sum(durations) / 3600.0,
        seconds=time.perf_counter() - start,
    )
