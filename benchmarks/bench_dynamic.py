"""Dynamic shapes: one model serving texts of mixed lengths against the same total work at one
length, on every autovoice backend usable here.

Four texts of 32, 96, 160 and 224 characters against four of 128 (the same characters in
all), spoken one after another and as one padded batch. The ratio of real-time factors
(mixed / fixed) is the cost of changing shapes: re-planning, re-allocating, or for TensorRT
leaving the tuned point of the optimization profile; as a batch it also counts the padding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks._common import bench_threads, markdown_table, summary, timed
from benchmarks._speakers import Speaker, autovoice_systems, load_speaker, registry
from benchmarks._voice import bench_voice
from benchmarks.bench_inference import PARAGRAPH

MIXED_LENGTHS = (32, 96, 160, 224)


def text_of(chars: int) -> str:
    """A text of exactly ``chars`` characters cut from the paragraph (repeated as needed)."""
    source = (PARAGRAPH + " ") * (chars // len(PARAGRAPH) + 2)
    cut = source[:chars].rstrip()
    return cut + "." * (chars - len(cut))


def workloads() -> dict[str, list[str]]:
    """``mixed`` and ``fixed`` texts, the same count and total characters."""
    fixed = sum(MIXED_LENGTHS) // len(MIXED_LENGTHS)
    return {
        "mixed": [text_of(n) for n in MIXED_LENGTHS],
        "fixed": [text_of(fixed)] * len(MIXED_LENGTHS),
    }


def _modes(speaker: Speaker, texts: list[str]) -> dict[str, Callable[[], list[Any]]]:
    def one_by_one() -> list[Any]:
        return [speaker.batch([text])[0] for text in texts]

    def as_batch() -> list[Any]:
        return speaker.batch(texts)

    return {"one at a time": one_by_one, "one batch": as_batch}


def bench_system(speaker: Speaker, *, warmup: int, repeats: int) -> list[dict[str, Any]]:
    """Mixed/fixed real-time factors of one system, in both modes."""
    rtf: dict[tuple[str, str], float] = {}
    for kind, texts in workloads().items():
        for mode, call in _modes(speaker, texts).items():
            audio_s = sum(len(w) for w in call()) / speaker.sample_rate
            times = timed(call, warmup=warmup, repeats=repeats, budget_s=5.0, min_repeats=3)
            median = summary(times)["median_s"]
            rtf[(kind, mode)] = median / audio_s
    return [
        {
            "system": speaker.name,
            "mode": mode,
            "mixed_rtf": rtf[("mixed", mode)],
            "fixed_rtf": rtf[("fixed", mode)],
            "overhead": rtf[("mixed", mode)] / rtf[("fixed", mode)],
        }
        for mode in ("one at a time", "one batch")
    ]


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    from autovoice.inference.stages import gpu_present

    warmup, repeats = (1, 3) if quick else (2, 15)
    voice = bench_voice()
    reg = registry()
    usable = {e.spec.name for e in reg.entries("backend") if e.spec.availability().available}
    rows: list[dict[str, Any]] = []
    for name in autovoice_systems(usable, gpu_present()):
        speaker = load_speaker(name, voice=voice.path, threads=bench_threads())
        rows += bench_system(speaker, warmup=warmup, repeats=repeats)
    result = {
        "voice": voice.record(),
        "threads": bench_threads(),
        "mixed_lengths": list(MIXED_LENGTHS),
        "rows": rows,
    }
    table = markdown_table(
        ["system", "mode", "mixed lengths RTF", "fixed length RTF", "mixed / fixed"],
        [[r["system"], r["mode"], r["mixed_rtf"], r["fixed_rtf"], r["overhead"]] for r in rows],
    )
    return result, table
