"""The serving benchmark at a small size: the real server under load answers 200 below its
queue and 503 with Retry-After above it, streams the first audio before the whole text, and
serves the engine's own audio."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from benchmarks._voice import bench_voice
from benchmarks.bench_serve import (
    SENTENCES,
    TEXT_1000,
    first_audio,
    identical,
    load,
    overload,
    server,
    table,
)

pytestmark = pytest.mark.slow


def test_the_thousand_character_text():
    assert 950 <= len(TEXT_1000) <= 1000
    assert TEXT_1000.count(".") >= 10  # many sentences: the first can come early


def test_the_serving_benchmark_at_a_small_size():
    voice = bench_voice().path
    with server(voice, threads=1, queue=2) as (base, process):
        below = load(base, concurrency=2, per_client=1)
        above = overload(base, count=8, text=" ".join(SENTENCES[:2]))
        streamed = first_audio(base, repeats=1, text=" ".join(SENTENCES[:4]))
        same = identical(base, voice, threads=1)
        assert process.poll() is None
    assert below["errors"] == 0 and below["requests"] == 2 and below["requests_per_s"] > 0
    assert below["latency"]["p99_s"] >= below["first_byte"]["p50_s"] > 0
    assert above["refused_503"] >= 1 and above["other"] == 0
    assert above["statuses"].get("200", 0) >= 2 and above["retry_after_on_every_503"]
    assert above["alive_after"]
    assert 0 < streamed["ratio"] < 1
    assert same is True
    result = {
        "rows": [below], "first_audio": streamed, "overload": above, "queue_size": 2,
        "server_peak_rss_mb": 100.0, "identical_to_engine": same,
        "first_audio_within_quarter": streamed["ratio"] <= 0.25,
    }  # fmt: skip
    rendered = table(result)
    assert "| 2 | 2 | 0 |" in rendered and "against a queue of 2" in rendered
