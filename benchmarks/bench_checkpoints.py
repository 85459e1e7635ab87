"""Checkpoint save and load time of a ~100 MB training state (quick: ~20 MB), as ratios to
copying the same number of bytes with the OS (``shutil.copyfile``) in the same run.

The state is a model's weights plus its AdamW moments (one third weights, two thirds optimizer).
A save is durable by default (each file and directory fsynced); ``save (no fsync)`` is the same
with ``fsync = false``, which is what ``copyfile`` does. A load reads, verifies the sha256 of
every file, decodes and copies into the model and optimizer. Two context rows: writing the same
bytes from memory (``copyfile`` copies inside the kernel and can be much faster than any
write from Python) and hashing them once.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import markdown_table, summary

MB = 1_000_000


def _state(megabytes: int) -> tuple[Any, Any]:
    import torch

    torch.manual_seed(0)
    width = 1024
    layers = max(1, round(megabytes * MB / 3 / 4 / (width * width)))
    model = torch.nn.Sequential(*(torch.nn.Linear(width, width) for _ in range(layers)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model(torch.randn(2, width)).sum().backward()
    optimizer.step()  # creates the moments: the state is now weights + 2 x weights
    return model, optimizer


def _repeat(setup: Callable[[int], None], fn: Callable[[int], None], repeats: int) -> list[float]:
    """Seconds of ``fn(i)`` for i in 0..repeats (after one warm-up); ``setup(i)`` untimed."""
    times = []
    for i in range(repeats + 1):
        setup(i)
        start = time.perf_counter()
        fn(i)
        if i:
            times.append(time.perf_counter() - start)
    return times


def run(quick: bool) -> tuple[dict[str, Any], str]:
    megabytes, repeats = (20, 3) if quick else (100, 5)
    model, optimizer = _state(megabytes)
    work = Path(tempfile.mkdtemp(prefix="bench-checkpoints-"))
    try:
        timings, total = _measure(model, optimizer, work, repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _report(timings, total)


def _measure(
    model: Any, optimizer: Any, work: Path, repeats: int
) -> tuple[dict[str, list[float]], int]:
    from autovoice.training import CheckpointManager
    from autovoice_stores.options import FileStoreOptions

    timings = {}
    for label, fsync in (("save", True), ("save (no fsync)", False)):
        directory = work / f"fsync-{fsync}"
        manager = CheckpointManager(
            directory, store_options=FileStoreOptions(fsync=fsync), max_keep=1
        )

        def clear(_i: int, directory: Path = directory) -> None:
            shutil.rmtree(directory, ignore_errors=True)

        def save(i: int, manager: Any = manager) -> None:
            manager.save(model, optimizer, None, 0, i, {}, None)

        timings[label] = _repeat(clear, save, repeats)
    saved = work / "fsync-False" / f"step-{repeats:09d}"
    total = sum(p.stat().st_size for p in saved.iterdir())
    source = work / "source.bin"
    source.write_bytes(b"".join(p.read_bytes() for p in sorted(saved.iterdir())))
    blob = source.read_bytes()

    def load(_i: int) -> None:
        manager.load(saved.name, model, optimizer)

    def copy(i: int) -> None:
        shutil.copyfile(source, work / f"copy-{i}.bin")

    def digest(_i: int) -> None:
        hashlib.sha256(blob).digest()

    def write(i: int) -> None:
        (work / f"write-{i}.bin").write_bytes(blob)

    for label, fn in (
        ("load", load),
        ("copyfile", copy),
        ("write the bytes from memory (context)", write),
        ("sha256 (part of both)", digest),
    ):
        timings[label] = _repeat(_nothing, fn, repeats)
    return timings, total


def _nothing(_i: int) -> None:
    pass


def _report(timings: dict[str, list[float]], total: int) -> tuple[dict[str, Any], str]:
    stats = {name: summary(times) for name, times in timings.items()}
    copy = stats["copyfile"]["median_s"]
    ratios = {name: s["median_s"] / copy for name, s in stats.items() if name != "copyfile"}
    rows = [
        [
            name,
            s["median_s"],
            s["p90_s"],
            total / MB / s["median_s"],
            ratios.get(name, 1.0),
        ]
        for name, s in stats.items()
    ]
    table = markdown_table(["operation", "median s", "p90 s", "MB/s", "x copyfile"], rows)
    result = {"state_bytes": total, "timings": stats, "ratio_to_copyfile": ratios}
    return result, f"Checkpoint of {total / MB:.1f} MB (weights + AdamW state)\n\n{table}"
