"""Over-smoothing: how far each voice's predicted speech is from its teacher's, beyond words.

Every system reads the held-out sentences (``autovoice/corpus/heldout.txt``, never in a training
corpus) in the project's spoken form, and each recording is compared with the teacher
(``hibari-tts``) reading the same sentence. Both are analysed alike
(:func:`autovoice.evaluation.analyse`: 22.05 kHz log-mel, silence trimmed) and paired frame by
frame by DTW on their mel cepstra:

- mel cepstral distortion (dB, c1…c24) along the path: lower is better;
- the global variance of each log-mel band (its variance over an utterance's active frames,
  averaged over utterances) as a ratio to the teacher's, averaged over the bands above 1 kHz
  and over all bands: 1 is the teacher's, below 1 over-smoothed;
- the modulation-spectrum distance (dB, RMS over bands and modulation frequencies of the band
  trajectories' power spectra, 0.74 s segments): 0 is the teacher's;
- f0 along the path: RMSE in cents and the mean per-utterance correlation of log f0 over frames
  voiced in both, and the fraction of frames whose voicing disagrees;
- phoneme durations, where the voice reports its phonemes' times (``synthesize_timed``): each
  phoneme's predicted duration against the stretch of the teacher's recording its boundaries
  project to through the path, as a mean absolute error per phoneme class (ms), and the
  length of the speech (silence trimmed) over the teacher's;
- the acoustic stage's seconds per second of audio (the part a sharper acoustic model costs).

A first row, the teacher's recordings remade from their own log-mels by the voice's vocoder,
shows what the vocoder alone costs on each measure: the rest is the acoustic model's. Where torch
is installed, each voice whose acoustic model can be teacher-forced gets a second row, the
teacher's prosody: the model run over the teacher's recordings of the same sentences as in
training (its aligner's durations, the recordings' pitch and energy), its mel (the decoder's
own, before any variance scale the voice applies at inference) through the voice's vocoder.
What that row still loses is the mel the model makes from the right prosody; the way from it
to the voice's own row is what predicting durations, pitch and energy costs.
Systems: the voice of the run (the default voice when installed, see ``benchmarks/_voice.py``),
the baseline voice (``AUTOVOICE_BENCH_BASELINE``) and every voice bundle named in
``AUTOVOICE_BENCH_CANDIDATES`` (``label=path,label=path``), all on ONNX Runtime. With
``AUTOVOICE_BENCH_EXAMPLES`` naming a folder, the first three sentences of each system (teacher
included) are written there as WAV files with a log-mel picture (PNG, with Pillow) to listen to
and look at. Ends with a table; ``--quick`` reads 12 sentences instead of all 60.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from benchmarks._common import bench_threads, labelled_paths, markdown_table
from benchmarks._voice import bench_voice

Wave = npt.NDArray[np.float32]
CANDIDATES_ENV = "AUTOVOICE_BENCH_CANDIDATES"
BASELINE_ENV = "AUTOVOICE_BENCH_BASELINE"
EXAMPLES_ENV = "AUTOVOICE_BENCH_EXAMPLES"
EXAMPLES = 3
QUICK_SENTENCES = 12
HIGH_BANDS_HZ = 1000.0
Phonemes = list[tuple[str, float, float]]


@attrs.frozen(kw_only=True)
class Voice:
    """A system under test: ``speak(text)`` gives the waveform, its phonemes' ``(symbol,
    start, end)`` seconds (None when the system cannot say) and the acoustic stage's seconds."""

    label: str
    sample_rate: int
    speak: Callable[[str], tuple[Wave, Phonemes | None, float]]


def _timed(engine: Any, text: str) -> tuple[Wave, Phonemes] | None:
    """The audio of ``text`` with its phonemes' times, from the engine's timed synthesis, where
    the voice reports durations (None for a voice exported before it did)."""
    from autovoice.errors import AutovoiceError

    try:
        speech = engine.synthesize_timed(text)
    except AutovoiceError:
        return None
    phonemes = [(p.symbol, float(p.start), float(p.end)) for p in speech.phonemes]
    return np.asarray(speech.audio, np.float32), phonemes


def autovoice_voice(label: str, path: Path, threads: int) -> Voice:
    """A voice bundle on ONNX Runtime, spoken once per text: by its timed synthesis where the
    voice reports durations (the phoneme times belong to that audio), else by a plain call;
    the acoustic stage's seconds from that call's timing."""
    from benchmarks._speakers import load_speaker

    speaker = load_speaker("onnxruntime", voice=path, threads=threads)
    engine = speaker.engine

    def speak(text: str) -> tuple[Wave, Phonemes | None, float]:
        timed = _timed(engine, text)
        wave, phonemes = timed if timed else (speaker.batch([text])[0], None)
        return wave, phonemes, engine.last_timing.acoustic_seconds

    return Voice(label=label, sample_rate=speaker.sample_rate, speak=speak)


def teacher_voice(threads: int) -> Voice:
    from autovoice.corpus.distill import load_teacher

    teacher = load_teacher("hibari", threads=threads)

    def speak(text: str) -> tuple[Wave, Phonemes | None, float]:
        return np.asarray(teacher.speak(text, 0), np.float32), None, float("nan")

    return Voice(label="hibari (the teacher)", sample_rate=teacher.sample_rate, speak=speak)


def systems(threads: int) -> dict[str, Path]:
    """``label -> bundle`` of every autovoice voice to measure, the voice of the run first."""
    voice = bench_voice()
    chosen = {"autovoice": voice.path}
    if os.environ.get(BASELINE_ENV, ""):
        chosen["baseline"] = Path(os.environ[BASELINE_ENV])
    chosen |= {label: Path(path) for label, path in labelled_paths(CANDIDATES_ENV).items()}
    return chosen


@attrs.frozen(kw_only=True)
class Takes:
    waves: list[Wave]
    phonemes: list[Phonemes | None]
    acoustic_s: float
    audio_s: float
    texts: Sequence[str] = ()


def record(voice: Voice, texts: Sequence[str]) -> Takes:
    voice.speak("Warming up.")
    waves, phonemes, acoustic = [], [], 0.0
    for text in texts:
        wave, times, seconds = voice.speak(text)
        waves.append(wave)
        phonemes.append(times)
        acoustic += seconds
    audio = sum(len(w) for w in waves) / voice.sample_rate
    return Takes(waves=waves, phonemes=phonemes, acoustic_s=acoustic, audio_s=audio, texts=texts)


def compare(takes: Takes, rate: int, teacher: Sequence[Any], teacher_gv: np.ndarray,
            teacher_ms: np.ndarray) -> dict[str, Any]:  # fmt: skip
    """The over-smoothing measures of one system's takes against the teacher's analyses."""
    from autovoice.evaluation import (
        align,
        analyse,
        band_centres,
        duration_errors,
        global_variance,
        modulation_distance,
        modulation_spectrum,
        path_distortion,
        pitch_errors,
    )

    ours = [analyse(w, rate) for w in takes.waves]
    paths = [align(a, b) for a, b in zip(ours, teacher, strict=True)]
    triples = list(zip(ours, teacher, paths, strict=True))
    ratio = global_variance(ours) / teacher_gv
    high = band_centres() > HIGH_BANDS_HZ
    f0 = pitch_errors(triples)
    timed = [(p, a, b, path) for p, (a, b, path) in zip(takes.phonemes, triples, strict=True) if p]
    durations = duration_errors(timed) if timed else None
    return {
        "mcd_db": statistics.fmean(path_distortion(a, b, p) for a, b, p in triples),
        "gv_ratio_above_1khz": float(ratio[high].mean()),
        "gv_ratio_all": float(ratio.mean()),
        "gv_ratio_bands": [round(float(r), 4) for r in ratio],
        "modulation_distance_db": modulation_distance(modulation_spectrum(ours), teacher_ms),
        "f0_rmse_cents": f0.rmse_cents,
        "f0_correlation": f0.correlation,
        "voicing_error": f0.voicing_error,
        "duration_mae_ms": durations.mean_absolute_ms if durations else None,
        "duration_bias_ms": durations.mean_signed_ms if durations else None,
        "duration_counts": durations.counts if durations else None,
        "length_ratio": sum(a.frames for a in ours) / sum(b.frames for b in teacher),
        "acoustic_rtf": takes.acoustic_s / takes.audio_s if takes.audio_s else float("nan"),
        "audio_s": takes.audio_s,
    }


def write_examples(folder: Path, name: str, takes: Takes, rate: int) -> list[str]:
    """The first :data:`EXAMPLES` takes as ``<name>-<i>.wav`` and, with Pillow, a log-mel
    picture ``<name>-<i>.png`` each; the files written."""
    from autovoice.audio.io import write_audio
    from autovoice.evaluation import analyse

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, wave in enumerate(takes.waves[:EXAMPLES]):
        target = folder / f"{name}-{index}.wav"
        write_audio(target, wave, rate)
        written.append(target.name)
        picture = spectrogram_picture(analyse(wave, rate).log_mel)
        if picture is not None:
            picture.save(folder / f"{name}-{index}.png")
            written.append(f"{name}-{index}.png")
    return written


def spectrogram_picture(log_mel: np.ndarray) -> Any:
    """A grey-scale image of a log-mel (low bands at the bottom, 60 dB of range), 3 pixels per
    frame and per band; None without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        return None
    top = log_mel.max()
    floor = top - 60.0 / (20.0 / np.log(10.0))
    scaled = np.clip((log_mel - floor) / (top - floor), 0.0, 1.0)[::-1]
    pixels = np.repeat(np.repeat((255 * scaled).astype(np.uint8), 3, axis=0), 3, axis=1)
    return Image.fromarray(pixels, mode="L")


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    from autovoice.corpus.distill import load_heldout
    from autovoice.evaluation import analyse, global_variance, modulation_spectrum
    from autovoice.text import normalize_text

    threads = bench_threads()
    held = load_heldout()
    texts = [normalize_text(t) for t in (held[:QUICK_SENTENCES] if quick else held)]
    teacher = teacher_voice(threads)
    reference = record(teacher, texts)
    analysed = [analyse(w, teacher.sample_rate) for w in reference.waves]
    gv, ms = global_variance(analysed), modulation_spectrum(analysed)
    examples = os.environ.get(EXAMPLES_ENV, "")
    folder = Path(examples) if examples else None
    written = write_examples(folder, "hibari", reference, teacher.sample_rate) if folder else []
    rows: dict[str, Any] = {}
    chosen = systems(threads)
    floor, rate = vocoder_floor(chosen["autovoice"], reference, teacher.sample_rate, threads)
    rows[FLOOR] = {"path": str(chosen["autovoice"]), **compare(floor, rate, analysed, gv, ms)}
    for label, path in chosen.items():
        voice = autovoice_voice(label, path, threads)
        takes = record(voice, texts)
        rows[label] = {"path": str(path), **compare(takes, voice.sample_rate, analysed, gv, ms)}
        forced = teacher_prosody(path, reference, teacher.sample_rate, threads)
        if forced is not None:
            scores = compare(forced, voice.sample_rate, analysed, gv, ms)
            rows[f"{label}{PROSODY}"] = {"path": str(path), **scores}
        if folder:
            written += write_examples(folder, label, takes, voice.sample_rate)
    result = {
        "voice": bench_voice().record(),
        "threads": threads,
        "sentences": len(texts),
        "teacher_audio_s": reference.audio_s,
        "systems": rows,
        "examples": {"folder": examples, "files": written} if folder else None,
    }
    return result, table(result)


FLOOR = "teacher's mels, voice's vocoder"
"""The reference row: the teacher's own recordings through the voice's vocoder (log-mel of the
recording, then the vocoder stage), what the vocoder alone costs on every measure."""


def vocoder_floor(voice: Path, reference: Takes, rate: int, threads: int) -> tuple[Takes, int]:
    """The teacher's recordings remade from their log-mels by the vocoder of ``voice``, and
    their sample rate (the voice's)."""
    from autovoice.audio.features import log_mel
    from autovoice.audio.process import resample
    from autovoice.bundle import VoiceBundle
    from benchmarks.bench_copysynth import bundle_vocoder

    audio = VoiceBundle.open(voice).audio
    vocode, _ = bundle_vocoder(voice, threads)
    waves = []
    for wave in reference.waves:
        mel = log_mel(resample(wave, rate, audio.sample_rate), audio)
        waves.append(np.asarray(vocode(mel[None]), np.float32)[0])
    seconds = sum(len(w) for w in waves) / audio.sample_rate
    takes = Takes(waves=waves, phonemes=[None] * len(waves), acoustic_s=math.nan, audio_s=seconds)
    return takes, audio.sample_rate


PROSODY = ", the teacher's prosody"
"""What the teacher-forced row of a voice adds to its label."""


def teacher_prosody(voice: Path, reference: Takes, rate: int, threads: int) -> Takes | None:
    """The acoustic model of ``voice`` teacher-forced over the teacher's recordings (written as
    a corpus in the voice's audio and text settings, features computed as for training), its
    mels through the voice's vocoder; None without torch, or where the voice's acoustic model
    has no teacher-forced run (a message says why)."""
    import tempfile

    import attrs

    from autovoice.audio.io import write_audio
    from autovoice.bundle import VoiceBundle
    from autovoice.config import load_config
    from autovoice.corpus.distill import clean_recording
    from autovoice.errors import AutovoiceError
    from autovoice.plugins import Registry
    from benchmarks.bench_copysynth import bundle_vocoder

    try:
        from autovoice.training.finetune import predict_mels
    except ImportError:
        print("teacher's prosody rows skipped: they need torch (pip install 'autovoice[train]')")
        return None
    bundle = VoiceBundle.open(voice)
    sample_rate = bundle.audio.sample_rate
    with tempfile.TemporaryDirectory(prefix="autovoice-prosody-") as scratch:
        corpus = Path(scratch) / "corpus"
        (corpus / "wavs").mkdir(parents=True)
        lines = []
        for number, wave in enumerate(reference.waves):
            write_audio(corpus / f"wavs/{number:03d}.wav", clean_recording(wave, rate, sample_rate),
                        sample_rate)  # fmt: skip
            lines.append(f"{number:03d}|{reference.texts[number]}|{reference.texts[number]}\n")
        (corpus / "metadata.csv").write_text("".join(lines), encoding="utf-8")
        config = load_config(None, overrides=[f"data.corpus={corpus}", "data.val_fraction=0"])
        config = attrs.evolve(config, audio=bundle.audio, text=bundle.text)
        try:
            predict_mels(config, voice, Path(scratch) / "mels", registry=Registry.discover())
        except AutovoiceError as exc:
            print(f"{voice}: no teacher's prosody row: {exc}")
            return None
        vocode, _ = bundle_vocoder(voice, threads)
        waves = [
            np.asarray(vocode(np.load(Path(scratch) / f"mels/{number:03d}.npy")[None]),
                       np.float32)[0]
            for number in range(len(reference.waves))
        ]  # fmt: skip
    seconds = sum(len(w) for w in waves) / sample_rate
    return Takes(waves=waves, phonemes=[None] * len(waves), acoustic_s=math.nan, audio_s=seconds,
                 texts=reference.texts)  # fmt: skip


def _cell(value: Any, digits: int = 2) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def table(result: dict[str, Any]) -> str:
    header = [
        "voice", "MCD dB", "GV ratio >1 kHz", "GV ratio all", "mod. spectrum dB",
        "f0 RMSE cents", "f0 corr.", "V/UV error", "vowel / consonant duration MAE ms",
        "speech length ratio", "acoustic RTF",
    ]  # fmt: skip
    rows = []
    for label, row in result["systems"].items():
        mae = row["duration_mae_ms"] or {}
        vowels = mae.get("vowel")
        consonants = [mae[k] for k in ("stop", "fricative", "nasal", "approximant") if k in mae]
        durations = (
            f"{_cell(vowels, 0)} / {_cell(statistics.fmean(consonants), 0)}"
            if vowels is not None and consonants
            else "-"
        )
        rows.append([
            label, _cell(row["mcd_db"]), _cell(row["gv_ratio_above_1khz"], 3),
            _cell(row["gv_ratio_all"], 3), _cell(row["modulation_distance_db"]),
            _cell(row["f0_rmse_cents"], 0), _cell(row["f0_correlation"], 3),
            _cell(row["voicing_error"], 3), durations, _cell(row["length_ratio"], 3),
            _cell(row["acoustic_rtf"], 4),
        ])  # fmt: skip
    notes = (
        f"{result['sentences']} held-out sentences against the teacher's recordings "
        f"({result['teacher_audio_s']:.0f} s); {result['threads']} threads; voice of the run: "
        f"{result['voice']['path']} ({result['voice']['note']})."
    )
    return markdown_table(header, rows) + "\n\n" + notes + "\n"
