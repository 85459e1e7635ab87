"""``docs/benchmarks.md`` from the suites' results, and the charts it shows.

:func:`render` is pure: results and tables in, markdown out. Every suite found in the results
directory gets its section (known suites first, in a fixed order, then any other), headed by
when and on which commit it was measured; a summary puts autovoice beside its peers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import markdown_table

__all__ = ["charts", "load_results", "machine_line", "peer_summary", "render", "suite_order"]

ORDER = (
    "inference",
    "profile",
    "coldstart",
    "dynamic",
    "quantize",
    "vocoder",
    "training",
    "data",
    "checkpoints",
    "voice",
)
TITLES = {
    "inference": "Inference: latency, real-time factor, memory",
    "profile": "Where synthesis time goes",
    "coldstart": "Cold start",
    "dynamic": "Dynamic shapes",
    "quantize": "int8 graphs",
    "vocoder": "Vocoder floor",
    "training": "Training throughput",
    "data": "Data loading",
    "checkpoints": "Checkpoints",
    "voice": "Voice quality",
}


def suite_order(names: Sequence[str]) -> list[str]:
    """Known suites in :data:`ORDER`, then the others alphabetically."""
    known = [n for n in ORDER if n in names]
    return known + sorted(n for n in names if n not in ORDER)


def load_results(directory: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """``<suite>.json`` and ``<suite>.md`` of every suite in ``directory``."""
    results, tables = {}, {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "suite" not in data:
            continue
        results[data["suite"]] = data
        table = path.with_suffix(".md")
        tables[data["suite"]] = table.read_text() if table.is_file() else ""
    return results, tables


def machine_line(record: Mapping[str, Any]) -> str:
    """One line naming the machine and the library versions."""
    versions = ", ".join(f"{k} {v}" for k, v in record.get("versions", {}).items() if v)
    gpu = record.get("gpu") or "no GPU"
    return (
        f"{record.get('cpu', '?')} ({record.get('cores', '?')} cores), {gpu}; "
        f"Python {record.get('python', '?')}; {versions}"
    )


def _when(result: Mapping[str, Any]) -> str:
    record = result.get("machine", {})
    load = record.get("load_average")
    loaded = f", load average {load[0]:.1f} at start" if load else ""
    quick = " (quick)" if result.get("quick") else ""
    wall = f", {result['wall_s']:.0f} s" if "wall_s" in result else ""
    full = str(record.get("commit") or "?")
    commit = full[:12] + (" (with uncommitted changes)" if full.endswith("-dirty") else "")
    return f"_Measured {record.get('date', '?')}{quick} on commit {commit}{wall}{loaded}._"


def _voice_line(voice: Mapping[str, Any]) -> str:
    """The voice measured: its note, stages and ONNX size."""
    stages = ", ".join(
        f"{name} {info.get('plugin')}"
        + (f" {info['options']['preset']}" if "preset" in (info.get("options") or {}) else "")
        for name, info in voice.get("stages", {}).items()
    )
    size = voice.get("total_onnx_mb")
    weight = f", {size:.1f} MB of ONNX" if isinstance(size, (int, float)) else ""
    return f"{voice.get('note', '?')} ({stages}{weight})"


def peer_summary(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """autovoice against each peer: RTF ratios (text-128, paragraph), peak memory ratio in
    synthesis, cold start ratio; a value is None when its suite did not run."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(system: str, peer: str) -> dict[str, Any]:
        empty = dict.fromkeys(("text-128", "paragraph", "memory", "cold_start"))
        return rows.setdefault((system, peer), {"system": system, "peer": peer, **empty})

    for r in results.get("inference", {}).get("peer_ratios", []):
        entry = row(r["system"], r["reference"])
        entry[r["input"]] = r["ratio"]
        entry["memory"] = r["memory_ratio"]
    for r in results.get("coldstart", {}).get("peer_ratios", []):
        row(r["system"], r["peer"])["cold_start"] = r["cold_start_ratio"]
    return list(rows.values())


def _summary_table(rows: list[dict[str, Any]]) -> str:
    def cell(value: Any) -> Any:
        return "" if value is None else value

    keys = ("text-128", "paragraph", "memory", "cold_start")
    return markdown_table(
        ["autovoice", "peer", "RTF, 128 chars", "RTF, paragraph", "peak memory", "cold start"],
        [[r["system"], r["peer"], *(cell(r[k]) for k in keys)] for r in rows],
    )


def render(
    results: Mapping[str, Any],
    tables: Mapping[str, str],
    *,
    images: Mapping[str, str] | None = None,
    total_s: float | None = None,
) -> str:
    """The benchmarks page: header, peer summary, then each suite's section."""
    images = images or {}
    names = suite_order(list(results))
    newest = max((results[n].get("machine", {}) for n in names), key=lambda m: m.get("date", ""))
    lines = [
        "# Benchmarks",
        "",
        "Written by `nox -s bench` (`python -m benchmarks.run`); do not edit by hand. Numbers",
        "are medians after warm-up; every ratio is of two numbers measured in the same run.",
        "Compare numbers only within one machine and one run.",
        "",
        "One suite: `nox -s bench -- --suite inference [--quick] [--no-docs]`; another voice:",
        "`--voice BUNDLE`; results land in `bench-results/` (JSON and markdown per suite).",
        "Peers (Piper, hibari) are installed by the bench session only.",
        "",
        f"Machine: {machine_line(newest)}.",
        f"Threads: every system pinned to {newest.get('threads', '?')} CPU threads.",
    ]
    voices = sorted({_voice_line(r["voice"]) for r in results.values() if "voice" in r})
    lines += [f"autovoice voice: {v}." for v in voices]
    if total_s is not None:
        lines.append(f"Every suite in one run: {total_s / 60:.1f} minutes.")
    summary = peer_summary(results)
    if summary:
        lines += ["", "## autovoice against peers", ""]
        lines += ["Ratios autovoice / peer (below 1: autovoice is faster or smaller).", ""]
        lines += [_summary_table(summary)]
    for name in names:
        lines += ["", f"## {TITLES.get(name, name)}", "", _when(results[name])]
        about = results[name].get("about")
        if about:
            lines += ["", about]
        if name in images:
            lines += ["", f"![{name}]({images[name]})"]
        lines += ["", tables.get(name, "").strip()]
    return "\n".join(lines).rstrip() + "\n"


def _bars(ax: Any, labels: list[str], values: list[float], title: str) -> None:
    ax.barh(labels, values, color="#4c72b0")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.invert_yaxis()


def _inference_chart(result: Mapping[str, Any], plt: Any) -> Any:
    rows = [r for r in result.get("rows", []) if r["batch"] == 1]
    inputs = [i for i in ("text-128", "paragraph") if any(r["input"] == i for r in rows)]
    if not inputs:
        return None
    figure, axes = plt.subplots(1, len(inputs), figsize=(7, 2.6), squeeze=False)
    for ax, case in zip(axes[0], inputs, strict=True):
        chosen = [r for r in rows if r["input"] == case]
        _bars(
            ax,
            [r["system"] for r in chosen],
            [r["rtf"] for r in chosen],
            f"RTF, {case}, batch 1 (lower is faster)",
        )
    return figure


def _coldstart_chart(result: Mapping[str, Any], plt: Any) -> Any:
    rows = [r for r in result.get("rows", []) if "error" not in r]
    if not rows:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(7, 2.6))
    labels = [r["system"] for r in rows]
    _bars(axes[0], labels, [r["median_s"] for r in rows], "cold start, s")
    _bars(axes[1], labels, [r["peak_rss_mb"] for r in rows], "peak RSS, MiB")
    return figure


def _vocoder_chart(result: Mapping[str, Any], plt: Any) -> Any:
    rows = result.get("rows", [])
    if not rows:
        return None
    figure, ax = plt.subplots(figsize=(7, 2.8))
    labels = [f"{r['vocoder']} {r['backend']}" for r in rows]
    _bars(ax, labels, [100 * r["peak_fraction"] for r in rows], "% of matrix-product peak")
    return figure


CHARTS = {"inference": _inference_chart, "coldstart": _coldstart_chart, "vocoder": _vocoder_chart}


def charts(results: Mapping[str, Any], directory: Path, prefix: str = "") -> dict[str, str]:
    """Write a PNG chart of each suite that has one into ``directory``; returns suite ->
    ``prefix`` + file name (the link the page uses). Empty without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, draw in CHARTS.items():
        figure = draw(results[name], plt) if name in results else None
        if figure is None:
            continue
        figure.tight_layout()
        path = directory / f"bench-{name}.png"
        figure.savefig(path, dpi=80)
        plt.close(figure)
        written[name] = f"{prefix}{path.name}"
    return written
