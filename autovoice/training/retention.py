"""Which checkpoints to keep: a pure function over checkpoint records."""

from __future__ import annotations

import math
from collections.abc import Iterable

from autovoice.training.checkpoints.records import CheckpointError, CheckpointRecord


def ranks(value: object) -> bool:
    """Whether a metric value can rank checkpoints: a finite number (not a bool, not NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def newest(records: Iterable[CheckpointRecord], count: int) -> list[CheckpointRecord]:
    """The ``count`` records of the highest steps (ties: the later saved), newest first."""
    ordered = sorted(records, key=lambda r: (r.step, r.created, r.name), reverse=True)
    return ordered[:count]


def best(
    records: Iterable[CheckpointRecord], count: int, metric_name: str, mode: str
) -> list[CheckpointRecord]:
    """The ``count`` records best by ``metric_name`` (lowest for ``min``, highest for
    ``max``), best first; equal metrics prefer the newer. Records without a finite value of the
    metric are never among them."""
    if mode not in ("min", "max"):
        raise CheckpointError(f"retention: mode must be 'min' or 'max', got {mode!r}")
    sign = 1.0 if mode == "min" else -1.0
    candidates = [r for r in records if ranks(r.metrics.get(metric_name))]
    candidates.sort(key=lambda r: (sign * r.metrics[metric_name], -r.step, -r.created, r.name))
    return candidates[:count]


def select_retained(
    records: Iterable[CheckpointRecord],
    max_keep: int,
    keep_best: int,
    metric_name: str,
    mode: str,
) -> set[str]:
    """Names of the checkpoints to keep: the newest ``max_keep`` and the best ``keep_best`` by
    ``metric_name``. The newest one is kept whatever the counts, so the only complete checkpoint
    is never deleted."""
    for label, count in (("max_keep", max_keep), ("keep_best", keep_best)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise CheckpointError(f"retention: {label} must be an integer >= 0, got {count!r}")
    listed = list(records)
    kept = {r.name for r in newest(listed, max(max_keep, 1))}
    kept |= {r.name for r in best(listed, keep_best, metric_name, mode)}
    return kept


def check_settings(max_keep: int, keep_best: int, metric_name: str, mode: str) -> None:
    """Refuse retention settings that make no sense, naming the argument."""
    if isinstance(max_keep, bool) or not isinstance(max_keep, int) or max_keep < 1:
        raise CheckpointError(f"max_keep must be an integer >= 1, got {max_keep!r}")
    if isinstance(keep_best, bool) or not isinstance(keep_best, int) or keep_best < 0:
        raise CheckpointError(f"keep_best must be an integer >= 0, got {keep_best!r}")
    if not isinstance(metric_name, str) or not metric_name:
        raise CheckpointError(f"metric_name must be a non-empty string, got {metric_name!r}")
    if mode not in ("min", "max"):
        raise CheckpointError(f"mode must be 'min' or 'max', got {mode!r}")
