"""Resuming: pick the checkpoint, skip damaged ones loudly, restore this rank's RNG state."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

from autovoice.training.checkpoints import catalog, dist
from autovoice.training.checkpoints.records import (
    Checkpoint,
    CheckpointCorruptError,
    CheckpointWarning,
    NoCheckpointError,
    UnsafeCheckpointError,
    step_of_name,
)
from autovoice.training.retention import newest
from autovoice.training.rng import restore_rng_state

logger = logging.getLogger("autovoice.training.checkpoints.manager")

Attempt = Callable[[Any], tuple[Checkpoint, dict[str, Any]]]


def loud(message: str) -> None:
    """A warning no one should miss: both a Python warning and a log record."""
    logger.warning(message)
    warnings.warn(message, CheckpointWarning, stacklevel=4)


def resume(manager: Any, path: Any, attempt: Attempt) -> tuple[int, int, Checkpoint]:
    """Try the candidates for ``path`` (``'latest'`` or a checkpoint) newest first; ``attempt``
    verifies and applies one, raising before it changes anything when it is damaged."""
    candidates, failures = _candidates(manager, path)
    for candidate in candidates:
        try:
            checkpoint, state = attempt(candidate)
        except (CheckpointCorruptError, UnsafeCheckpointError) as exc:
            loud(f"checkpoint {_label(manager, candidate)} is damaged, skipping it: {exc}")
            failures.append(str(exc))
            continue
        restore_rank_rng(state.get("rng"), checkpoint.location)
        if failures:
            loud(
                f"resumed from {checkpoint.location}, the newest intact checkpoint, at step "
                f"{checkpoint.step}; skipped {len(failures)} damaged: " + "; ".join(failures)
            )
        return checkpoint.epoch, checkpoint.step, checkpoint
    raise NoCheckpointError(
        f"cannot resume: no intact checkpoint in {manager.uri} ({'; '.join(failures)}). "
        "Refusing to start from scratch: remove the checkpoints or start a new run explicitly."
    )


def _candidates(manager: Any, path: Any) -> tuple[list[Any], list[str]]:
    """What to try, in order, and the damaged checkpoints already known to be skipped."""
    if isinstance(path, str) and path == "latest":
        found = catalog.scan(manager.store)
        if not found.records and not found.damaged:
            raise NoCheckpointError(f"cannot resume: there is no checkpoint in {manager.uri}")
        names = [r.name for r in newest(found.records, len(found.records))]
        top = found.records[-1].step if found.records else -1
        failures = []
        for name, why in sorted(found.damaged.items()):
            if (step_of_name(name) or 0) > top:
                loud(f"checkpoint {catalog.location(manager.store, name)} is damaged: {why}")
                failures.append(why)
        return names, failures
    store, name = manager.locate(path)
    step = step_of_name(name)
    if store is not manager.store or step is None:
        return [path], []
    older = [r for r in manager.list_checkpoints() if r.step <= step and r.name != name]
    return [name, *(r.name for r in newest(older, len(older)))], []


def _label(manager: Any, candidate: Any) -> str:
    if isinstance(candidate, str) and "/" not in candidate:
        return catalog.location(manager.store, candidate)
    return str(candidate)


def restore_rank_rng(states: Any, where: str) -> None:
    """Restore this rank's generators from a checkpoint's ``rng`` entry (loudly when absent)."""
    rank = dist.rank()
    if not isinstance(states, list) or rank >= len(states) or not isinstance(states[rank], dict):
        saved = len(states) if isinstance(states, list) else 0
        loud(
            f"{where} holds no RNG state for rank {rank} (it was saved by {saved} ranks): "
            "random streams will differ from an uninterrupted run"
        )
        return
    if len(states) != dist.world_size():
        loud(f"{where} was saved by {len(states)} ranks and is resumed by {dist.world_size()}")
    restore_rng_state(states[rank])
