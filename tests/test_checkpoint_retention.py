"""Retention: the kept set is exactly the newest ``max_keep`` and the best ``keep_best``."""

from __future__ import annotations

import math
import uuid

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autovoice.training import CheckpointError, CheckpointManager, CheckpointRecord
from autovoice.training.retention import select_retained

METRIC = "val_loss"
# Few distinct values, so ties are common; None stands for "metric not reported".
metric_values = st.one_of(st.none(), st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), st.floats(0, 5))


def records(metrics: list[float | None]) -> list[CheckpointRecord]:
    return [
        CheckpointRecord(
            name=f"step-{step:09d}",
            step=step,
            epoch=0,
            metrics={} if value is None else {METRIC: value},
            created=1000.0 + step,
        )
        for step, value in enumerate(metrics, start=1)
    ]


def expected(metrics: list[float | None], max_keep: int, keep_best: int, mode: str) -> set[str]:
    """The specification, written independently: newest by step; best by value, ties to the
    newer; records without a value are never best."""
    steps = list(range(1, len(metrics) + 1))
    newest = steps[-max_keep:] if max_keep else []
    scored = [
        (v if mode == "min" else -v, -s)
        for s, v in zip(steps, metrics, strict=True)
        if v is not None
    ]
    best = [-s for _v, s in sorted(scored)[:keep_best]]
    kept = set(newest) | set(best)
    return {f"step-{s:09d}" for s in kept}


@settings(max_examples=300, deadline=None)
@given(
    metrics=st.lists(metric_values, min_size=1, max_size=30),
    max_keep=st.integers(1, 6),
    keep_best=st.integers(0, 6),
    mode=st.sampled_from(["min", "max"]),
)
def test_kept_set_is_newest_k_union_best_k(
    metrics: list[float | None], max_keep: int, keep_best: int, mode: str
) -> None:
    kept = select_retained(records(metrics), max_keep, keep_best, METRIC, mode)
    assert kept == expected(metrics, max_keep, keep_best, mode)


@given(metrics=st.lists(metric_values, min_size=1, max_size=10), keep_best=st.integers(0, 3))
def test_the_only_complete_checkpoint_is_never_deleted(
    metrics: list[float | None], keep_best: int
) -> None:
    listed = records(metrics)
    kept = select_retained(listed, 0, keep_best, METRIC, "min")
    assert listed[-1].name in kept  # even with max_keep 0, the newest stays
    assert select_retained(listed[:1], 0, 0, METRIC, "min") == {listed[0].name}


def test_unrankable_metrics_are_never_best() -> None:
    listed = records([float("nan"), math.inf, 0.1, None])
    listed.append(CheckpointRecord(name="step-000000009", step=9, epoch=0, metrics={METRIC: True}))
    assert select_retained(listed, 1, 5, METRIC, "min") == {"step-000000003", "step-000000009"}


@pytest.mark.parametrize(
    ("args", "message"),
    [((-1, 1, "min"), "max_keep"), ((1, -2, "min"), "keep_best"), ((1, 1, "avg"), "mode")],
)
def test_bad_settings_are_named(args: tuple[int, int, str], message: str) -> None:
    max_keep, keep_best, mode = args
    with pytest.raises(CheckpointError, match=message):
        select_retained(records([1.0]), max_keep, keep_best, METRIC, mode)


@settings(max_examples=15, deadline=None)
@given(
    metrics=st.lists(metric_values, min_size=1, max_size=8),
    max_keep=st.integers(1, 3),
    keep_best=st.integers(0, 3),
    mode=st.sampled_from(["min", "max"]),
)
def test_a_sequence_of_saves_keeps_exactly_newest_and_best(
    metrics: list[float | None], max_keep: int, keep_best: int, mode: str
) -> None:
    manager = CheckpointManager(
        f"memory://retention-{uuid.uuid4().hex}", max_keep, keep_best, METRIC, mode
    )
    model = torch.nn.Linear(2, 1)
    for step, value in enumerate(metrics, start=1):
        reported = {} if value is None else {METRIC: value, "other": -1.0}
        manager.save(model, None, None, 0, step, reported, None)
        kept = {r.name for r in manager.list_checkpoints()}
        assert kept == expected(metrics[:step], max_keep, keep_best, mode)
