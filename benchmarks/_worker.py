"""One system measured in a fresh process: ``python -m benchmarks._worker REQUEST_JSON``.

The request names the system, the voice, the thread count, warm-up and repeats, the batch
sizes and the inputs. The last line of stdout is the result: latency rows, seconds to load, and
the process's peak memory (so that each system's memory is its own).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks._common import peak_rss_mb, summary, timed
from benchmarks._speakers import Speaker, load_speaker


def latency_row(
    case: str, batch: int, times: list[float], audio_s: float, chars: int
) -> dict[str, Any]:
    """One measured row: percentiles, seconds of audio, real-time factor, characters/s."""
    stats = summary(times)
    return {
        "input": case,
        "batch": batch,
        "audio_s": audio_s,
        "p50_s": stats["p50_s"],
        "p90_s": stats["p90_s"],
        "p99_s": stats["p99_s"],
        "n": stats["n"],
        "rtf": stats["p50_s"] / audio_s if audio_s > 0 else float("inf"),
        "chars_per_s": chars / stats["p50_s"],
    }


def _cases(speaker: Speaker, texts: dict[str, str], batch: int) -> dict[str, Any]:
    """Input name -> (call, characters) at this batch size."""
    return {
        "text-128": (partial(speaker.batch, [texts["text-128"]] * batch), 128 * batch),
        "paragraph": (
            partial(speaker.long, texts["paragraph"], batch),
            len(texts["paragraph"]),
        ),
    }


def timed_audio(
    call: Callable[[], Any],
    sample_rate: int,
    *,
    warmup: int,
    repeats: int,
    budget_s: float,
    min_repeats: int = 5,
) -> tuple[list[float], float]:
    """Seconds of each timed call after ``warmup`` untimed ones, and the median seconds of
    audio a call made (a peer's random durations vary from call to call). Stops before
    ``repeats`` once ``budget_s`` seconds are timed and ``min_repeats`` calls are done."""
    audio: list[int] = []

    def one() -> None:
        out = call()
        audio.append(sum(len(w) for w in (out if isinstance(out, list) else [out])))

    times = timed(one, warmup=warmup, repeats=repeats, budget_s=budget_s, min_repeats=min_repeats)
    return times, statistics.median(audio[warmup:]) / sample_rate


def measure(speaker: Speaker, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Latency rows of ``speaker`` for every input and batch size it supports, smallest batch
    first; each row carries the process's peak memory up to the end of its batch size."""
    rows = []
    sizes = sorted(request["batch_sizes"]) if speaker.batches else [1]
    for batch in sizes:
        done = len(rows)
        for case, (call, chars) in _cases(speaker, request["texts"], batch).items():
            times, audio_s = timed_audio(
                call,
                speaker.sample_rate,
                warmup=request["warmup"],
                repeats=request["repeats"],
                budget_s=request["budget_s"],
                min_repeats=request["min_repeats"],
            )
            rows.append(latency_row(case, batch, times, audio_s, chars))
        for row in rows[done:]:
            row["peak_rss_mb"] = peak_rss_mb()
    return rows


def gpu_memory_mb() -> float | None:
    """GPU memory this process holds now (nvidia-smi), None without a GPU."""
    import os

    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        pid, _, used = line.partition(",")
        if pid.strip() == str(os.getpid()):
            return float(used.strip().split()[0])
    return None


def main(argv: list[str]) -> int:
    request = json.loads(argv[0])
    started = time.perf_counter()
    voice = Path(request["voice"]) if request.get("voice") else None
    speaker = load_speaker(request["system"], voice=voice, threads=request["threads"])
    load_s = time.perf_counter() - started
    rows = measure(speaker, request)
    result = {
        "system": speaker.name,
        "sample_rate": speaker.sample_rate,
        "threads": request["threads"],
        "load_s": load_s,
        "rows": rows,
        "peak_rss_mb": peak_rss_mb(),
        "gpu_mb": gpu_memory_mb(),
        "info": dict(speaker.info),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
