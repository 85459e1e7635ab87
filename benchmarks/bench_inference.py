"""End-to-end synthesis: latency and real-time factor per backend and batch size.

Every available backend (pytorch, onnxruntime, and tensorrt in FP32 and FP16 where a GPU and
TensorRT are present) serves both stages of one voice. Measured, warm-up excluded:

- a fixed 128-character text, ``batch`` copies synthesized as one batch (batch 1, 4, 8);
- a paragraph of several sentences through ``synthesize_speech`` at each batch size;
- dynamic shapes: texts of mixed lengths one after another against the same number of texts
  of one fixed length with the same total characters (ratio of real-time factors);
- ONNX Runtime (and TensorRT) against PyTorch eager, as a ratio of median latencies.

The voice is the default voice when one is installed, else a tiny one trained for a few steps
in a temporary directory: its numbers measure speed only, never quality, and an untrained
duration predictor makes its utterances shorter or longer than real speech.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from autovoice.bundle import default_voice_path
from autovoice.inference import VoiceInferenceEngine
from autovoice.plugins import Registry
from benchmarks._common import markdown_table, summary, timed

TEXT_128 = (
    "The quick brown fox jumps over the lazy dog while seven wizards quietly hex the jovial "
    "judge, and every box of biscuits is gone."
)
"""The fixed input: 128 characters."""
PARAGRAPH = (
    "Speech synthesis turns written words into sound. A front end normalizes the text and "
    "maps it to symbols. An acoustic model predicts how long each symbol lasts and paints a "
    "mel spectrogram. A vocoder then turns the spectrogram into a waveform, one sample at a "
    "time in old systems and all at once in new ones. Batching sentences keeps the hardware "
    "busy, and short pauses join them back into one recording."
)
MIXED_LENGTHS = (32, 96, 160, 224)
BATCH_SIZES = (1, 4, 8)
NOTE_TINY = (
    "voice: a tiny model trained for a few steps in a temporary directory; these numbers "
    "measure speed only, not quality"
)


def _registry() -> Registry:
    import autovoice_torch

    eps = importlib.metadata.entry_points(group="autovoice")
    installed = any(ep.value == "autovoice_torch" for ep in eps)
    return Registry.discover(plugins=[] if installed else [autovoice_torch])


def _text(chars: int) -> str:
    """A text of exactly ``chars`` characters cut from the paragraph (repeated as needed)."""
    source = (PARAGRAPH + " ") * (chars // len(PARAGRAPH) + 2)
    cut = source[:chars].rstrip()
    return cut + "." * (chars - len(cut))


def _systems(registry: Registry) -> dict[str, dict[str, Any]]:
    """Name -> engine settings of every backend usable here."""
    usable = {e.spec.name for e in registry.entries("backend") if e.spec.availability().available}
    systems: dict[str, dict[str, Any]] = {
        name: {"backend": name} for name in ("pytorch", "onnxruntime") if name in usable
    }
    if "tensorrt" in usable:
        for precision, fp16 in (("fp32", False), ("fp16", True)):
            options = {"tensorrt": {"fp16": fp16}}
            systems[f"tensorrt-{precision}"] = {"backend": "tensorrt", "backend_options": options}
    return systems


def _row(system: str, case: str, batch: int, times: list[float], audio_s: float) -> dict[str, Any]:
    stats = summary(times)
    return {
        "system": system,
        "input": case,
        "batch": batch,
        "audio_s": audio_s,
        "p50_s": stats["median_s"],
        "p90_s": stats["p90_s"],
        "p99_s": stats["p99_s"],
        "rtf": stats["median_s"] / audio_s if audio_s else float("inf"),
    }


def _measure(
    fn: Callable[[], Any], engine: VoiceInferenceEngine, warmup: int, repeats: int
) -> tuple[list[float], float]:
    """Timings of ``fn`` and the seconds of audio one call makes."""
    times = timed(fn, warmup=warmup, repeats=repeats)
    timing = engine.last_timing
    return times, timing.audio_seconds if timing is not None else 0.0


def bench_system(
    system: str, engine: VoiceInferenceEngine, *, warmup: int, repeats: int
) -> list[dict[str, Any]]:
    """The fixed text as one batch of ``batch`` copies, and the paragraph in batches."""
    rows = []
    for batch in BATCH_SIZES:
        cases = {
            "text-128": partial(engine.synthesize_batch, [TEXT_128] * batch),
            "paragraph": partial(engine.synthesize_speech, PARAGRAPH, batch_size=batch),
        }
        for case, fn in cases.items():
            times, audio = _measure(fn, engine, warmup, repeats)
            rows.append(_row(system, case, batch, times, audio))
    return rows


def _speak_each(engine: VoiceInferenceEngine, texts: list[str]) -> int:
    return sum(len(engine.synthesize_batch([text])[0]) for text in texts)


def bench_dynamic(
    system: str, engine: VoiceInferenceEngine, *, warmup: int, repeats: int
) -> dict[str, Any]:
    """Real-time factor of texts of mixed lengths over that of texts of one length, one text
    per call, the same number of texts and characters."""
    mixed = [_text(n) for n in MIXED_LENGTHS]
    fixed = [_text(sum(MIXED_LENGTHS) // len(MIXED_LENGTHS))] * len(MIXED_LENGTHS)
    result: dict[str, Any] = {"system": system}
    for name, texts in (("mixed", mixed), ("fixed", fixed)):
        fn = partial(_speak_each, engine, texts)
        audio = fn() / engine.sample_rate
        times = timed(fn, warmup=warmup, repeats=repeats)
        result[f"{name}_rtf"] = summary(times)["median_s"] / audio
    result["overhead"] = result["mixed_rtf"] / result["fixed_rtf"]
    return result


def _ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median latency of PyTorch over each other system's, per input and batch size."""
    base = {(r["input"], r["batch"]): r["p50_s"] for r in rows if r["system"] == "pytorch"}
    return [
        {
            "system": r["system"],
            "input": r["input"],
            "batch": r["batch"],
            "speedup_vs_pytorch": base[(r["input"], r["batch"])] / r["p50_s"],
        }
        for r in rows
        if r["system"] != "pytorch" and (r["input"], r["batch"]) in base
    ]


def _voice(tmp: Path, quick: bool) -> tuple[Path, str]:
    default = default_voice_path()
    if default is not None:
        return default, f"voice: the default voice ({default})"
    from benchmarks._tiny_voice import make_tiny_voice

    steps = 6 if quick else 12
    return make_tiny_voice(tmp / "work", acoustic_steps=steps, vocoder_steps=1), NOTE_TINY


def _markdown(records: list[dict[str, Any]], columns: dict[str, str]) -> str:
    return markdown_table(list(columns.values()), [[r[k] for k in columns] for r in records])


def _table(result: dict[str, Any]) -> str:
    parts = [f"_{result['note']}_", ""]
    columns = {
        "system": "system",
        "input": "input",
        "batch": "batch",
        "audio_s": "audio s",
        "p50_s": "p50 s",
        "p90_s": "p90 s",
        "p99_s": "p99 s",
        "rtf": "RTF",
    }
    parts += [_markdown(result["rows"], columns), ""]
    if result["ratios"]:
        columns = {
            "system": "system",
            "input": "input",
            "batch": "batch",
            "speedup_vs_pytorch": "x faster than pytorch",
        }
        parts += [_markdown(result["ratios"], columns), ""]
    columns = {
        "system": "system",
        "mixed_rtf": "mixed lengths RTF",
        "fixed_rtf": "fixed length RTF",
        "overhead": "mixed / fixed",
    }
    parts += [_markdown(result["dynamic"], columns)]
    return "\n".join(parts)


def _devices(engine: VoiceInferenceEngine) -> dict[str, str]:
    return {name: stage["device"] for name, stage in engine.describe()["stages"].items()}


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    warmup, repeats = (1, 5) if quick else (3, 20)
    registry = _registry()
    rows: list[dict[str, Any]] = []
    dynamic: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        voice, note = _voice(Path(tmp), quick)
        for system, settings in _systems(registry).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a provider fallback shows in "devices"
                engine = VoiceInferenceEngine(voice, registry=registry, **settings)
            rows += bench_system(system, engine, warmup=warmup, repeats=repeats)
            dynamic.append(bench_dynamic(system, engine, warmup=warmup, repeats=repeats))
            dynamic[-1]["devices"] = _devices(engine)
    result = {
        "note": note,
        "text_128": TEXT_128,
        "paragraph_chars": len(PARAGRAPH),
        "rows": rows,
        "ratios": _ratios(rows),
        "dynamic": dynamic,
    }
    return result, _table(result)
