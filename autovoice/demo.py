"""The main job, ``autovoice demo`` (``nox -s demo``): first speech, then the training path.

It speaks with the shipped voice, makes a small espeak-ng corpus, trains the tiny acoustic model
(stopping half-way, then resuming from the checkpoint as after a crash), trains a
``magnitude_gl`` vocoder, exports both as a voice bundle checked against PyTorch, speaks with it,
and scores what it said with the speech recognizer the benchmarks use, beside the scores of the
shipped voice and of the corpus speaker's own recording of the same sentence.

Everything goes into one folder (``demo-run``), made afresh on every run: a folder that the demo
made is replaced, any other is refused, so a rerun needs no cleanup and never deletes user data.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from autovoice.errors import AutovoiceError

__all__ = ["DEMO_CONFIG", "DemoResult", "Score", "prepare_folder", "run_demo"]

DEMO_CONFIG = Path(__file__).resolve().parent / "demo.toml"
"""The demo's training config, in the package (``autovoice demo --config`` takes another)."""
MARKER = ".autovoice-demo"
"""A file the demo leaves in its folder: only such a folder is replaced by the next run."""
FIRST_TEXT = "Hello there. This is autovoice, speaking on your own machine."
TRAINED_TEXT = "Hello there. This voice learned to speak a few minutes ago."
SCORED = (
    TRAINED_TEXT,
    "The weather is nice today, so we will walk to the park.",
    "She bought three apples and a loaf of bread at the market.",
    "Turn left at the next corner and keep going straight.",
    "My brother plays the piano every Sunday evening.",
)
"""The sentences each voice is scored on (none in the demo corpus); the first is the one the
new voice speaks into demo-trained.wav."""
SPEAKER = 0
RATE = 22050
"""The demo corpus's sample rate, and its teacher's."""


@attrs.frozen(kw_only=True)
class Score:
    """What the recognizer heard of the first scored sentence, its word error rate, and the
    word error rate over all of :data:`SCORED`."""

    who: str
    heard: str
    wer: float
    overall: float


@attrs.frozen(kw_only=True)
class DemoResult:
    folder: Path
    files: tuple[Path, ...]
    scores: tuple[Score, ...]
    seconds: float


def prepare_folder(folder: Path) -> None:
    """An empty ``folder``: a previous demo's is removed; any other non-empty one is refused."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise AutovoiceError(
                f"{folder}: a folder the demo did not make; it is left alone "
                "(choose another with --out)"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by autovoice demo; the next run replaces this folder\n")


def _config(folder: Path, config_path: Path, steps: int | None) -> Any:
    from autovoice.config import load_config

    overrides = [
        f"data.corpus={folder / 'corpus'}",
        f"data.cache_dir={folder / 'cache'}",
        f"training.output_dir={folder / 'runs'}",
    ]
    if steps is not None:
        overrides.append(f"training.max_steps={steps}")
    return load_config(config_path, overrides=overrides)


def _train(config: Any, stage: str, *, stop_at: int | None = None, resume: bool = False) -> Path:
    from autovoice.training.build import build_trainer
    from autovoice.training.stages import stage_dir

    if stop_at is not None:
        training = attrs.evolve(config.training, max_steps=stop_at)
        config = attrs.evolve(config, training=training)
    trainer = build_trainer(config, stage=stage)
    if resume:
        trainer.resume("latest")
    trainer.fit()
    return stage_dir(config, stage)


def _engine(voice: str | Path | None) -> Any:
    from autovoice.inference.engine import VoiceInferenceEngine

    return VoiceInferenceEngine(voice, backend="onnxruntime")


def _speak(engine: Any, text: str, out: Path) -> float:
    """Speak ``text`` into ``out``; the real-time factor (after a warm-up)."""
    from autovoice.audio.io import write_audio

    engine.synthesize_speech("Warm up.", speaker_id=SPEAKER)
    start = time.perf_counter()
    wave = engine.synthesize_speech(text, speaker_id=SPEAKER)
    seconds = time.perf_counter() - start
    write_audio(out, wave, engine.sample_rate)
    return float(seconds / max(len(wave) / engine.sample_rate, 1e-9))


def score(recognizer: Any, who: str, speak: Callable[[str], tuple[np.ndarray, int]]) -> Score:
    """``speak``'s renditions of :data:`SCORED` as ``recognizer`` hears them."""
    from autovoice.evaluation import corpus_word_errors

    heard = [recognizer.transcribe(*speak(text)) for text in SCORED]
    total, each = corpus_word_errors(list(SCORED), heard)
    first = each[0].errors / max(each[0].reference_words, 1)
    return Score(who=who, heard=heard[0], wer=first, overall=total.rate)


def _scores(recognizer: Any, new: Any, shipped: Any, speakers: int) -> tuple[Score, ...]:
    """The new voice, its teacher and the shipped voice (engines already open) scored."""
    from autovoice.corpus.demo import speak_as_demo_speaker

    def voice(engine: Any) -> Callable[[str], tuple[np.ndarray, int]]:
        return lambda text: (engine.synthesize_speech(text, speaker_id=SPEAKER), engine.sample_rate)

    def teacher(text: str) -> tuple[np.ndarray, int]:
        wave = speak_as_demo_speaker(text, index=SPEAKER, speakers=speakers, sample_rate=RATE)
        return wave, RATE

    return (
        score(recognizer, "the new voice", voice(new)),
        score(recognizer, "its teacher (the espeak-ng corpus speaker)", teacher),
        score(recognizer, "the shipped voice", voice(shipped)),
    )


def check_requirements() -> None:
    """Fail at once, before any work, where the training side is not installed."""
    import importlib.util

    missing = [m for m in ("torch", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise AutovoiceError(
            f"the demo trains and exports a voice, which needs {', '.join(missing)}: "
            "pip install 'autovoice[train,onnxruntime]' (for the CPU build of torch, see the "
            "README), or run it as nox -s demo"
        )


def _export(acoustic: Path, vocoder: Path, out: Path) -> Path:
    from autovoice.export.bundle_writer import export_voice

    return export_voice(acoustic, vocoder, out, overwrite=True)


def run_demo(
    folder: str | os.PathLike[str] = "demo-run",
    *,
    config_path: str | os.PathLike[str] = DEMO_CONFIG,
    steps: int | None = None,
    vocoder_steps: int = 200,
    speakers: int = 2,
    sentences: int = 120,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """The whole demo (see the module docstring); ``say`` gets a line per step."""
    from autovoice.corpus.demo import make_demo_corpus
    from autovoice.recognizer import load_recognizer

    start, root = time.perf_counter(), Path(folder)
    check_requirements()
    recognizer = load_recognizer()
    prepare_folder(root)
    config = _config(root, Path(config_path), steps)
    total, half = config.training.max_steps, max(1, config.training.max_steps // 2)
    say(f"[1/7] Speaking with the shipped voice: {root / 'demo.wav'}")
    shipped = _engine(None)
    rtf = _speak(shipped, FIRST_TEXT, root / "demo.wav")
    say(f"      real-time factor {rtf:.3f} (ONNX Runtime): {1 / rtf:.0f}x faster than real time")
    say(f"[2/7] Making a corpus: {speakers} espeak-ng speakers x {sentences} sentences")
    report = make_demo_corpus(
        root / "corpus", speakers=speakers, sentences=sentences, sample_rate=RATE
    )
    say(f"      {report.utterances} utterances, {report.hours * 60:.1f} min of audio")
    say(f"[3/7] Training the acoustic model to step {half} of {total}, then stopping")
    _train(config, "acoustic", stop_at=half)
    say(f"[4/7] Resuming it from its latest checkpoint, as after a crash, to step {total}")
    acoustic = _train(config, "acoustic", resume=True)
    say(f"[5/7] Training the vocoder {vocoder_steps} steps (mel to magnitude; Griffin-Lim phase)")
    vocoder = _train(config, "vocoder", stop_at=vocoder_steps)
    say("[6/7] Exporting a voice bundle: ONNX graphs, each checked against PyTorch")
    bundle = _export(acoustic, vocoder, root / "voice")
    say(f"[7/7] Speaking with the new voice: {root / 'demo-trained.wav'}")
    new = _engine(bundle)
    _speak(new, TRAINED_TEXT, root / "demo-trained.wav")
    scores: tuple[Score, ...] = ()
    if recognizer is None:
        say("      not scored: the recognizer is not installed (pip install 'autovoice[eval]')")
    else:
        say(f"      scoring it, its teacher and the shipped voice on {len(SCORED)} new sentences")
        scores = _scores(recognizer, new, shipped, speakers)
    files = (root / "demo.wav", root / "demo-trained.wav", bundle, acoustic, vocoder)
    return DemoResult(folder=root, files=files, scores=scores, seconds=time.perf_counter() - start)


RECOGNISABLE = 0.5
"""A word error rate below which a sentence counts as recognisable."""


def verdict(scores: Sequence[Score]) -> str:
    """One honest sentence on whether the new voice is recognisable, beside its corpus speaker."""
    new, reference = scores[0], scores[1]
    if new.overall < RECOGNISABLE:
        return f"The new voice is recognisable: {new.overall:.0%} of its words were misheard."
    return (
        f"The new voice is not yet intelligible ({new.overall:.0%} word error): minutes on a "
        "CPU learn a voice's pitch, rhythm and vowels before its words. Its teacher, espeak-ng, "
        f"scores {reference.overall:.0%} on the same sentences with this recognizer; the "
        "shipped voice trained for hours on a natural teacher."
    )
