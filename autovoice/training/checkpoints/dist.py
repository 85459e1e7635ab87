"""What checkpointing needs of torch.distributed; without an initialized process group every
function acts as for a single process (rank 0 of 1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch.distributed as dist

from autovoice.training.checkpoints.records import CheckpointWriteError

T = TypeVar("T")


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_writer() -> bool:
    """Only rank 0 writes checkpoints."""
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def gather_to_writer(value: Any) -> list[Any] | None:
    """Every rank's ``value``, in rank order, on rank 0; None on the other ranks."""
    if not active():
        return [value]
    gathered: list[Any] | None = [None] * world_size() if is_writer() else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def from_writer(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a collective: every rank waits for rank 0)."""
    if not active():
        return value
    box = [value if is_writer() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class _Failed:
    """What rank 0 hands the other ranks when its part failed."""

    def __init__(self, message: str) -> None:
        self.message = message


def on_writer(fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0 only and return its result on every rank; when it fails on rank 0,
    every rank raises (rank 0 its own error, the others a :class:`CheckpointWriteError`)."""
    if not active():
        return fn()
    outcome: Any = None
    try:
        if is_writer():
            outcome = fn()
    except Exception as exc:
        from_writer(_Failed(f"rank 0 failed: {exc}"))
        raise
    outcome = from_writer(outcome)
    if isinstance(outcome, _Failed):
        raise CheckpointWriteError(outcome.message)
    return outcome  # type: ignore[no-any-return]
