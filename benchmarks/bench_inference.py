"""End-to-end synthesis: latency, real-time factor and peak memory per system and batch size.

Systems: one autovoice voice on every backend usable here (``pytorch`` and ``onnxruntime`` on
the CPU; on a GPU also ``pytorch-cuda``, ``onnxruntime-cuda``, ``tensorrt-fp32`` and
``tensorrt-fp16``), and the peers installed (Piper, hibari) through their own runtimes. Each
system runs in a fresh process pinned to the same number of threads, so that its peak memory
is its own. Measured, warm-up excluded:

- a fixed 128-character text, ``batch`` copies as one batch (batch 1, 4, 8; peers cannot
  batch, so they are measured at batch 1);
- a five-sentence paragraph, split into sentences and synthesized ``batch`` at a time.

The real-time factor (RTF) is the median latency over the seconds of audio made; ratios of
RTFs are measured in the same run: each backend against PyTorch, each autovoice system against
each peer (below 1: autovoice is faster).
"""

from __future__ import annotations

from typing import Any

from benchmarks._common import bench_threads, markdown_table
from benchmarks._proc import WorkerError, run_worker
from benchmarks._speakers import autovoice_systems, peers_installed, registry
from benchmarks._voice import bench_voice

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
BATCH_SIZES = (1, 4, 8)
REFERENCE = "pytorch"
PEER_SYSTEMS = ("pytorch", "onnxruntime")
"""The autovoice systems compared with peers (the CPU ones: the peers run on the CPU)."""


def systems() -> list[str]:
    """Every system measurable here: autovoice backends first, then the installed peers."""
    from autovoice.inference.stages import gpu_present

    reg = registry()
    usable = {e.spec.name for e in reg.entries("backend") if e.spec.availability().available}
    return [*autovoice_systems(usable, gpu_present()), *peers_installed()]


def _request(system: str, voice: str, quick: bool) -> dict[str, Any]:
    warmup, repeats, least, budget = (1, 3, 2, 1.0) if quick else (2, 20, 5, 8.0)
    return {
        "system": system,
        "voice": voice,
        "threads": bench_threads(),
        "warmup": warmup,
        "repeats": repeats,
        "min_repeats": least,
        "budget_s": budget,
        "batch_sizes": list(BATCH_SIZES),
        "texts": {"text-128": TEXT_128, "paragraph": PARAGRAPH},
    }


def measure_system(system: str, voice: str, quick: bool) -> dict[str, Any]:
    """One system's worker result, or ``{"system", "error"}`` when it failed."""
    try:
        result, done = run_worker("benchmarks._worker", _request(system, voice, quick))
    except WorkerError as exc:
        return {"system": system, "error": str(exc)}
    return {**result, "system": system, "process_peak_rss_mb": done.peak_rss_mb}


def flat_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every latency row, tagged with its system."""
    return [{"system": r["system"], **row} for r in results if "rows" in r for row in r["rows"]]


def ratios(rows: list[dict[str, Any]], reference: str, key: str = "rtf") -> list[dict[str, Any]]:
    """``key`` of each other system over the reference's, per input and batch size."""
    base = {(r["input"], r["batch"]): r[key] for r in rows if r["system"] == reference}
    return [
        {
            "system": r["system"],
            "reference": reference,
            "input": r["input"],
            "batch": r["batch"],
            "ratio": r[key] / base[(r["input"], r["batch"])],
        }
        for r in rows
        if r["system"] != reference and (r["input"], r["batch"]) in base
    ]


def peer_ratios(results: list[dict[str, Any]], peers: list[str]) -> list[dict[str, Any]]:
    """Each autovoice CPU system against each peer at batch 1: RTF and peak memory ratios
    (the peak of a process that has served batch 1 only, as the peers do)."""
    rows = [r for r in flat_rows(results) if r["batch"] == 1]
    out = []
    for peer in peers:
        memory = ratios(rows, peer, key="peak_rss_mb")
        for ratio, mem in zip(ratios(rows, peer), memory, strict=True):
            if ratio["system"] in PEER_SYSTEMS:
                out.append({**ratio, "memory_ratio": mem["ratio"]})
    return out


def _markdown(records: list[dict[str, Any]], columns: dict[str, str]) -> str:
    return markdown_table(list(columns.values()), [[r[k] for k in columns] for r in records])


LATENCY_COLUMNS = {
    "system": "system",
    "input": "input",
    "batch": "batch",
    "audio_s": "audio s",
    "p50_s": "p50 s",
    "p90_s": "p90 s",
    "p99_s": "p99 s",
    "rtf": "RTF",
    "peak_rss_mb": "peak RSS MiB (so far)",
}
BACKEND_COLUMNS = {
    "system": "system",
    "input": "input",
    "batch": "batch",
    "ratio": "RTF / PyTorch RTF",
}
PEER_COLUMNS = {
    "system": "autovoice",
    "reference": "peer",
    "input": "input",
    "ratio": "RTF ratio (autovoice / peer)",
    "memory_ratio": "peak memory ratio",
}


def table(result: dict[str, Any]) -> str:
    """The suite's markdown: latency rows, backends against PyTorch, autovoice against peers."""
    parts = [
        f"Voice: {result['voice']['note']} ({result['voice']['total_onnx_mb']:.1f} MB of ONNX). "
        f"Threads: {result['threads']}.",
        "",
        _markdown(result["rows"], LATENCY_COLUMNS),
    ]
    if result["backend_ratios"]:
        parts += ["", "Backends against PyTorch eager (below 1: faster)", ""]
        parts += [_markdown(result["backend_ratios"], BACKEND_COLUMNS)]
    if result["peer_ratios"]:
        parts += ["", "autovoice against peers at batch 1 (below 1: autovoice is faster)", ""]
        parts += [_markdown(result["peer_ratios"], PEER_COLUMNS)]
    parts += [f"\n{name}: failed: {error}" for name, error in result["errors"].items()]
    return "\n".join(parts)


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    voice = bench_voice()
    peers = peers_installed()
    results = [measure_system(name, str(voice.path), quick) for name in systems()]
    rows = flat_rows(results)
    result = {
        "voice": voice.record(),
        "threads": bench_threads(),
        "text_128": TEXT_128,
        "paragraph": PARAGRAPH,
        "systems": results,
        "rows": rows,
        "backend_ratios": ratios([r for r in rows if r["system"] not in peers], REFERENCE),
        "peer_ratios": peer_ratios(results, peers),
        "errors": {r["system"]: r["error"] for r in results if "error" in r},
    }
    return result, table(result)
