"""Naming a checkpoint, as ``--init``, ``export`` and ``info`` are given one (torch-free).

A checkpoint is given as

- its own path or URI: ``runs/demo/acoustic/checkpoints/step-000002000``;
- a run's checkpoint directory (or the stage directory holding ``checkpoints/``), which picks
  the latest: ``runs/demo/acoustic/checkpoints`` or ``runs/demo/acoustic``;
- either directory with ``@latest`` or ``@best`` (by the run's ``checkpoint.metric_name``):
  ``runs/demo/vocoder@best``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs

from autovoice.training.checkpoints.catalog import (
    location,
    open_store,
    read_meta,
    scan,
    split_location,
)
from autovoice.training.checkpoints.records import (
    CheckpointRecord,
    NoCheckpointError,
    step_of_name,
)
from autovoice.training.retention import best, newest

SELECTORS = ("latest", "best")


@attrs.frozen(kw_only=True)
class CheckpointRef:
    """A checkpoint found: its store, its name there, and how messages name it."""

    store: Any
    name: str

    @property
    def location(self) -> str:
        return location(self.store, self.name)


def split_selector(text: str) -> tuple[str, str | None]:
    """``("runs/x", "best")`` for ``"runs/x@best"``; ``(text, None)`` without a selector."""
    base, sep, which = text.rpartition("@")
    if sep and which in SELECTORS:
        return base, which
    return text, None


def _run_directory(base: str) -> str:
    """A stage directory's ``checkpoints/`` folder when ``base`` is one; else ``base``."""
    inner = Path(base) / "checkpoints"
    if (
        "://" not in base
        and inner.is_dir()
        and not any(step_of_name(p.name) is not None for p in Path(base).iterdir())
    ):
        return os.fspath(inner)
    return base


def _ranking(records: tuple[CheckpointRecord, ...], store: Any) -> tuple[str, str]:
    """The metric and mode the run ranked by (its newest checkpoint's config says)."""
    meta, _ = read_meta(store, newest(records, 1)[0].name)
    settings = (meta.get("config") or {}).get("checkpoint") or {}
    return str(settings.get("metric_name", "val_loss")), str(settings.get("mode", "min"))


def pick(store: Any, which: str) -> str:
    """The name of the ``latest`` or ``best`` checkpoint in ``store``."""
    records = scan(store).records
    if not records:
        raise NoCheckpointError(f"no complete checkpoint in {store.uri}")
    if which == "latest":
        return newest(records, 1)[0].name
    metric, mode = _ranking(records, store)
    found = best(records, 1, metric, mode)
    if not found:
        raise NoCheckpointError(f"no checkpoint in {store.uri} has metric {metric!r} to rank by")
    return found[0].name


def resolve_checkpoint(text: str | os.PathLike[str], registry: Any = None) -> CheckpointRef:
    """The checkpoint ``text`` names (see the module's description)."""
    base, which = split_selector(os.fspath(text))
    if which is None:
        parent, name = split_location(base)
        if step_of_name(name) is not None:
            return CheckpointRef(store=open_store(parent, registry=registry), name=name)
        which = "latest"
    if "://" not in base and not Path(base).exists():
        raise NoCheckpointError(f"{base}: no such checkpoint or checkpoint directory")
    store = open_store(_run_directory(base), registry=registry)
    return CheckpointRef(store=store, name=pick(store, which))
