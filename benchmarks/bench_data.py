"""Dataloader throughput: utterances per second of the ``voice`` dataset's train loader, for 0, 1
and 2 worker processes, with and without the feature cache, on a demo corpus made in a temporary
folder.

One epoch is one measurement. The first epoch of each setting is a warm-up (worker start-up, and
filling the cache where there is one); the ratio cached/uncached is measured in the same run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import markdown_table, summary, timed

WORKERS = (0, 1, 2)


def _config(corpus: Path, cache_dir: str, workers: int) -> Any:
    from autovoice.config import Config, DataConfig, TrainingConfig

    data = DataConfig(
        dataset="voice",
        corpus=str(corpus),
        cache_dir=cache_dir,
        num_workers=workers,
        val_fraction=0.0,
    )
    return Config(data=data, training=TrainingConfig(batch_size=16))


def _registry() -> Any:
    import autovoice_datasets
    import autovoice_stores
    from autovoice.plugins import Registry

    return Registry.discover(plugins=[autovoice_datasets, autovoice_stores], entry_points=False)


def _measure(corpus: Path, cache_dir: str, workers: int, repeats: int) -> dict[str, Any]:
    """Utterances per second of one epoch of the train loader (median of ``repeats``)."""
    from autovoice.training.data import create_dataloaders

    train = create_dataloaders(_config(corpus, cache_dir, workers), registry=_registry())["train"]
    utterances = len(train.dataset)

    def epoch() -> None:
        for _ in train:
            pass

    stats = summary(timed(epoch, warmup=1, repeats=repeats))
    return {
        "workers": workers,
        "cache": bool(cache_dir),
        "utterances": utterances,
        "utt_per_s": utterances / stats["median_s"],
        "epoch": stats,
    }


def run(quick: bool) -> tuple[dict[str, Any], str]:
    from autovoice.corpus import make_demo_corpus

    speakers, sentences, repeats = (2, 12, 2) if quick else (2, 32, 3)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="autovoice-bench-data-") as tmp:
        corpus = Path(tmp) / "demo"
        made = make_demo_corpus(corpus, speakers=speakers, sentences=sentences, seed=0)
        for workers in WORKERS:
            rows.append(_measure(corpus, "", workers, repeats))
            rows.append(_measure(corpus, str(Path(tmp) / f"cache-{workers}"), workers, repeats))
    speedups = {
        str(w): next(r for r in rows if r["workers"] == w and r["cache"])["utt_per_s"]
        / next(r for r in rows if r["workers"] == w and not r["cache"])["utt_per_s"]
        for w in WORKERS
    }
    result = {
        "corpus": {"utterances": made.utterances, "speakers": made.speakers, "hours": made.hours},
        "batch_size": 16,
        "rows": rows,
        "cache_speedup": speedups,
    }
    table = markdown_table(
        [
            "workers",
            "feature cache",
            "utterances/s",
            "epoch median (s)",
            "epoch p90 (s)",
            "cache speed-up",
        ],
        [
            [
                r["workers"],
                "yes" if r["cache"] else "no",
                r["utt_per_s"],
                r["epoch"]["median_s"],
                r["epoch"]["p90_s"],
                speedups[str(r["workers"])] if r["cache"] else "",
            ]
            for r in rows
        ],
    )
    return result, table
