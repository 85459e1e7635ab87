"""Checkpoint names, records and errors (no torch: the command line lists checkpoints with it).

A checkpoint is a key prefix ``step-NNNNNNNNN/`` in a store holding :data:`MODEL_FILE`,
:data:`STATE_FILE` and, written last, :data:`META_FILE`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from autovoice.errors import AutovoiceError

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.pt"
META_FILE = "meta.json"
FORMAT = "autovoice-checkpoint"
FORMAT_VERSION = 1

_NAME = re.compile(r"^step-(?P<step>[0-9]{9,})$")


class CheckpointError(AutovoiceError):
    """A checkpoint could not be saved, found or loaded; the message names it."""


class CheckpointCorruptError(CheckpointError):
    """A checkpoint's files are missing, truncated or altered (checksums disagree)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint file would need more than plain data to load, so it was refused."""


class CheckpointWriteError(CheckpointError):
    """Saving failed; the checkpoints saved before are untouched."""


class NoCheckpointError(CheckpointError):
    """There is no checkpoint (or no intact one) where one was asked for."""


def checkpoint_name(step: int) -> str:
    """The name (key prefix) of the checkpoint of ``step``: ``step-000001000``."""
    return f"step-{step:09d}"


def step_of_name(name: str) -> int | None:
    """The step in a checkpoint name, or None when ``name`` is not one."""
    match = _NAME.match(name)
    return int(match.group("step")) if match else None


def _copy(value: Mapping[str, float]) -> dict[str, float]:
    return dict(value)


@attrs.frozen(kw_only=True)
class CheckpointRecord:
    """One complete checkpoint as listed: what retention and ``checkpoints list`` look at."""

    name: str
    step: int
    epoch: int
    metrics: Mapping[str, float] = attrs.field(factory=dict, converter=_copy, hash=False)
    size: int = 0
    """Bytes of all its files, meta.json included."""
    created: float = 0.0
    """When it was saved (seconds since the epoch)."""


@attrs.frozen(kw_only=True)
class Checkpoint:
    """A loaded checkpoint: its record and everything it holds besides tensors."""

    record: CheckpointRecord
    location: str
    """Where it is: the store URI and the checkpoint name."""
    meta: Mapping[str, Any] = attrs.field(hash=False)
    extra_state: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    """What the caller passed to ``save(extra_state=...)`` (sampler position, ...)."""

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def epoch(self) -> int:
        return self.record.epoch

    @property
    def step(self) -> int:
        return self.record.step

    @property
    def metrics(self) -> Mapping[str, float]:
        return self.record.metrics

    @property
    def config(self) -> Any:
        """The configuration saved with it, as a dict (or None)."""
        return self.meta.get("config")

    @property
    def symbols(self) -> Any:
        """The symbol table saved with it (or None)."""
        return self.meta.get("symbols")


@attrs.frozen(kw_only=True)
class WeightsReport:
    """What a warm start loaded and what it skipped, per ``module/key``."""

    loaded: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    """In the model, not in the checkpoint: left as initialized."""
    unexpected: tuple[str, ...] = ()
    """In the checkpoint, not in the model: ignored."""
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = ()
    """``(key, shape in checkpoint, shape in model)``: skipped."""

    @property
    def skipped(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        parts = [f"loaded {len(self.loaded)} tensors"]
        if self.mismatched:
            shapes = ", ".join(f"{k} {list(a)} -> {list(b)}" for k, a, b in self.mismatched)
            parts.append(f"skipped {len(self.mismatched)} with other shapes ({shapes})")
        if self.missing:
            parts.append(f"{len(self.missing)} missing ({', '.join(self.missing)})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected ({', '.join(self.unexpected)})")
        return "; ".join(parts)


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was skipped (resume went on from an older one) or a state could not
    be restored exactly."""
