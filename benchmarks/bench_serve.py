"""Serving: `autovoice serve` on loopback under 1, 4 and 16 concurrent clients (requests/s, p50
and p99 latency, time to first audio byte), the first audio of a 1,000-character text streamed
against its whole time, the server's peak memory, and what it answers above its queue limit.

The server runs as the real command in its own process (its memory is its own), pinned to the
run's threads; clients are httpx on the same machine, each sending its requests one after
another. Below the queue limit every answer must be 200; above it, 503 with ``Retry-After``
and never a crash or a hang. One streamed response is checked byte for byte against the engine
called directly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._common import bench_threads, markdown_table, summary
from benchmarks._voice import bench_voice

__all__ = ["TEXT_1000", "run"]

SHORT = "The quick brown fox jumps over the lazy dog. It was a sunny day."
SENTENCES = (
    "The morning train left the station a little after seven.",
    "Most of the passengers were reading, and a few were asleep.",
    "Outside, the fields were still grey with the last of the frost.",
    "A conductor walked slowly down the aisle, checking each ticket.",
    "Somewhere near the back, a child was asking where the river went.",
    "Her father pointed at the window and told her to keep watching.",
    "The river appeared at last, wide and brown and full of light.",
)
TEXT_1000 = " ".join(SENTENCES[i % len(SENTENCES)] for i in range(17))[:1000].rsplit(" ", 1)[0]
"""About 1,000 characters of plain sentences (the first-audio measure)."""
CONCURRENCY = (1, 4, 16)
QUEUE = 20
"""The server's queue per voice: above every concurrency measured, below :data:`OVERLOAD`."""
OVERLOAD = 48
"""Concurrent requests sent at once to go past the queue."""
MEDIUM = " ".join(SENTENCES[:3])
FIRST_AUDIO_LIMIT = 0.25
"""The most the first audio of :data:`TEXT_1000` may take, as a fraction of the whole text."""
STARTUP_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_mb(pid: int) -> float:
    """Peak resident memory of process ``pid`` in MiB (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


@contextmanager
def server(voice: Path, threads: int, queue: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``autovoice serve`` on 127.0.0.1 in a subprocess: its base URL and process."""
    import httpx

    port = _free_port()
    command = [
        *(sys.executable, "-m", "autovoice", "serve", "--voice", f"bench={voice}"),
        *("--port", str(port), "--threads", str(threads), "--queue-size", str(queue)),
    ]
    env = {**os.environ, "AUTOVOICE_API_KEY": ""}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                httpx.get(f"{base}/health", timeout=5).raise_for_status()
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"autovoice serve did not start: {command}") from None
                time.sleep(0.1)
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def body(text: str, fmt: str = "pcm") -> dict[str, Any]:
    return {"model": "bench", "input": text, "response_format": fmt}


async def request(client: Any, base: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One streamed request: status, seconds to the first body byte and to the last, bytes."""
    started = time.perf_counter()
    first = None
    size = 0
    try:
        async with client.stream("POST", f"{base}/v1/audio/speech", json=payload) as response:
            async for part in response.aiter_raw():
                if first is None and part:
                    first = time.perf_counter() - started
                size += len(part)
            status = response.status_code
            retry = response.headers.get("retry-after")
    except Exception as exc:  # a hang (timeout) or a dropped connection: counted, not raised
        return {"status": None, "error": f"{type(exc).__name__}: {exc}"}
    total = time.perf_counter() - started
    return {"status": status, "first_s": first, "total_s": total, "bytes": size, "retry": retry}


async def _clients(base: str, concurrency: int, per_client: int, text: str) -> list[dict]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency + 8)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one_client() -> list[dict[str, Any]]:
            return [await request(client, base, body(text)) for _ in range(per_client)]

        groups = await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return [result for group in groups for result in group]


def load(base: str, concurrency: int, per_client: int, text: str = SHORT) -> dict[str, Any]:
    """``concurrency`` clients sending ``per_client`` requests each, one after another."""
    started = time.perf_counter()
    results = asyncio.run(_clients(base, concurrency, per_client, text))
    wall = time.perf_counter() - started
    ok = [r for r in results if r["status"] == 200]
    return {
        "concurrency": concurrency,
        "requests": len(results),
        "errors": len(results) - len(ok),
        "requests_per_s": len(ok) / wall,
        "latency": summary([r["total_s"] for r in ok]) if ok else None,
        "first_byte": summary([r["first_s"] for r in ok]) if ok else None,
    }


def overload(base: str, count: int = OVERLOAD, text: str = MEDIUM) -> dict[str, Any]:
    """``count`` requests at once, past the queue: what each got, and whether the server still
    answers after."""
    import httpx

    async def burst() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=count + 8)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            return await asyncio.gather(*(request(client, base, body(text)) for _ in range(count)))

    results = asyncio.run(burst())
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    busy = [r for r in results if r["status"] == 503]
    return {
        "requests": count,
        "statuses": statuses,
        "refused_503": len(busy),
        "retry_after_on_every_503": all(r["retry"] for r in busy),
        "other": sum(n for s, n in statuses.items() if s not in ("200", "503")),
        "alive_after": httpx.get(f"{base}/health", timeout=10).status_code == 200,
    }


def first_audio(base: str, repeats: int, text: str = TEXT_1000) -> dict[str, Any]:
    """Streamed ``text``: seconds to the first audio byte and to the whole text, and their
    ratio, medians of ``repeats`` after one warm-up."""
    import httpx

    async def measure() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=300) as client:
            await request(client, base, body(text))
            return [await request(client, base, body(text)) for _ in range(repeats)]

    results = asyncio.run(measure())
    first = summary([r["first_s"] for r in results])["median_s"]
    whole = summary([r["total_s"] for r in results])["median_s"]
    return {"chars": len(text), "first_audio_s": first, "whole_s": whole, "ratio": first / whole}


def identical(base: str, voice: Path, threads: int, text: str = SHORT) -> bool:
    """Whether the server's streamed pcm is the engine's own audio, byte for byte."""
    import httpx

    from autovoice.audio.io import encode_audio
    from autovoice.inference import VoiceInferenceEngine

    engine = VoiceInferenceEngine(voice, threads=threads)
    expected = encode_audio(engine.synthesize_speech(text), engine.sample_rate, ".raw")
    served = httpx.post(f"{base}/v1/audio/speech", json=body(text), timeout=120).content
    return served == expected


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    voice = bench_voice()
    threads = bench_threads()
    per_client = 2 if quick else 5
    with server(voice.path, threads, QUEUE) as (base, process):
        load(base, 1, 2)  # warm-up
        rows = [load(base, n, per_client) for n in CONCURRENCY]
        streamed = first_audio(base, 2 if quick else 3)
        above = overload(base)
        same = identical(base, voice.path, threads)
        memory = peak_mb(process.pid)
    result = {
        "voice": voice.record(),
        "threads": threads,
        "queue_size": QUEUE,
        "text": SHORT,
        "rows": rows,
        "first_audio": streamed,
        "overload": above,
        "identical_to_engine": same,
        "server_peak_rss_mb": memory,
        "errors_below_queue": sum(row["errors"] for row in rows),
        "first_audio_within_quarter": streamed["ratio"] <= FIRST_AUDIO_LIMIT,
    }
    return result, table(result)


def table(result: dict[str, Any]) -> str:
    header = ["clients", "requests", "errors", "req/s", "p50 s", "p99 s", "first byte p50 s"]
    rows = [
        [
            r["concurrency"], r["requests"], r["errors"], r["requests_per_s"],
            r["latency"]["p50_s"], r["latency"]["p99_s"], r["first_byte"]["p50_s"],
        ]
        for r in result["rows"]
    ]  # fmt: skip
    first, above = result["first_audio"], result["overload"]
    lines = [
        markdown_table(header, rows),
        "",
        f"Streaming a {first['chars']}-character text: first audio byte after "
        f"{first['first_audio_s']:.3f} s, the whole text after {first['whole_s']:.3f} s "
        f"(ratio {first['ratio']:.3f}; at most {FIRST_AUDIO_LIMIT}: "
        f"{result['first_audio_within_quarter']}).",
        f"{above['requests']} requests at once against a queue of {result['queue_size']}: "
        f"{above['statuses']} ({above['other']} other answers; Retry-After on every 503: "
        f"{above['retry_after_on_every_503']}; the server answered after: {above['alive_after']}).",
        f"Server peak memory {result['server_peak_rss_mb']:.0f} MiB; streamed audio identical "
        f"to the engine's: {result['identical_to_engine']}.",
    ]
    return "\n".join(lines)
