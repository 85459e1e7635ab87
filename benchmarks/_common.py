"""Shared pieces of the benchmark suites: timing, the machine record, result files.

Every suite warms up, repeats, and reports medians and percentiles; comparisons are ratios
measured side by side in the same run. Never compare numbers across machines or runs.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
THREADS_ENV = "AUTOVOICE_BENCH_THREADS"
"""CPU threads every measured system is pinned to (set by ``benchmarks.run --threads``)."""
DEFAULT_THREADS = 2
LIBRARIES = (
    "autovoice",
    "numpy",
    "torch",
    "onnxruntime",
    "onnxruntime-gpu",
    "tensorrt",
    "piper-tts",
    "hibari-tts",
)
"""Distributions whose versions every result records."""


def bench_threads() -> int:
    """The thread count of this run: ``$AUTOVOICE_BENCH_THREADS``, else 2."""
    value = os.environ.get(THREADS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_THREADS


def pin_torch_threads() -> int:
    """Pin PyTorch's intra-op threads to :func:`bench_threads`; returns the count."""
    import torch

    threads = bench_threads()
    torch.set_num_threads(threads)
    return threads


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB: ``VmHWM`` of its own address space
    (``ru_maxrss`` would carry over the parent's peak when a large process started this one)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(
    fn: Callable[[], Any],
    *,
    warmup: int = 1,
    repeats: int = 5,
    budget_s: float | None = None,
    min_repeats: int = 3,
) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones; with
    ``budget_s``, stops early once that many seconds are timed and ``min_repeats`` are done."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    while len(times) < repeats and not _spent(times, budget_s, min_repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _spent(times: Sequence[float], budget_s: float | None, min_repeats: int) -> bool:
    return budget_s is not None and len(times) >= min_repeats and sum(times) >= budget_s


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between order statistics."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(times: Sequence[float]) -> dict[str, float]:
    """Median, p90, p99, min and count of a list of timings (seconds)."""
    return {
        "median_s": statistics.median(times),
        "p50_s": percentile(times, 50),
        "p90_s": percentile(times, 90),
        "p99_s": percentile(times, 99),
        "min_s": min(times),
        "n": len(times),
    }


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def _gpu() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """What a result was measured on: CPU, cores, GPU, library versions, commit, date, the
    thread count every system was pinned to, and the load average when it started (other
    work on the machine slows every number down)."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "gpu": _gpu(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {name: _version(name) for name in LIBRARIES},
        "commit": _git_commit(),
        "threads": bench_threads(),
        "load_average": _load_average(),
    }


def write_results(out_dir: Path, suite: str, result: dict[str, Any], table: str) -> None:
    """``<suite>.json`` (result + machine) and ``<suite>.md`` (the markdown table)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{suite}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / f"{suite}.md").write_text(table.rstrip() + "\n")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def labelled_paths(variable: str) -> dict[str, str]:
    """``label -> path`` from the environment variable ``variable`` (``label=path,label=path``);
    items without a label or a path are left out."""
    given: dict[str, str] = {}
    for item in os.environ.get(variable, "").split(","):
        label, sep, path = item.partition("=")
        if sep and label.strip() and path.strip():
            given[label.strip()] = path.strip()
    return given
