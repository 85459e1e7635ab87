"""What changed between a checkpoint's configuration and the run resuming it. Pure.

A resumed run is exact only when it trains as the interrupted run would have: the same data and
validation split, model, batch, schedule and seed. Some settings say only where files go, how
often to log or save, how long to run, or how to export and synthesize afterwards; those may
change freely (:data:`FREE`). Every other change is *binding*: it breaks exact resume or makes
the validation metrics incomparable with the checkpoints before it, and the trainer refuses it
unless the user allows config changes (then each change is logged, and applied).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from autovoice.config import unstructure

__all__ = ["FREE", "Change", "binding", "config_changes", "describe", "with_defaults"]

FREE: tuple[str, ...] = (
    "training.max_steps",
    "training.log_every",
    "training.checkpoint_every",
    "training.output_dir",
    "checkpoint",
    "data.cache_dir",
    "export",
    "inference",
    "bench",
)
"""Settings (dotted paths, or whole sections) that a resumed run may change: they say where
files go, how often to log and save, how long to run, which checkpoints to keep, and what
happens after training. Features cached under another ``data.cache_dir`` are checked against
the audio settings, which are binding."""


@attrs.frozen(kw_only=True)
class Change:
    """One setting whose value differs: ``saved`` in the checkpoint, ``current`` in this run
    (:data:`MISSING` where one side lacks it)."""

    path: str
    saved: Any
    current: Any

    @property
    def free(self) -> bool:
        return any(self.path == p or self.path.startswith(p + ".") for p in FREE)


class _Missing:
    def __repr__(self) -> str:
        return "(not set)"


MISSING: Any = _Missing()


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        leaves: dict[str, Any] = {}
        for key, item in value.items():
            leaves.update(_leaves(item, f"{prefix}.{key}" if prefix else str(key)))
        return leaves
    return {prefix: list(value) if isinstance(value, tuple) else value}


def with_defaults(saved: Any, current: Any) -> Any:
    """The unstructured configuration ``saved`` as this code reads it: every setting it lacks
    that ``current``'s types (the config's sections, and the options of a plugin of the same
    name) define takes its default, so that a setting added since the checkpoint was saved is
    no change unless this run sets it otherwise. What ``saved`` holds is kept as it is."""
    if not (attrs.has(type(current)) and isinstance(saved, Mapping)):
        return saved
    if "name" in saved and saved["name"] != getattr(current, "name", saved["name"]):
        return saved  # another plugin: its options are not this one's
    filled = dict(saved)
    for field in attrs.fields(type(current)):
        if field.name in saved:
            filled[field.name] = with_defaults(saved[field.name], getattr(current, field.name))
            continue
        default = field.default
        factory = getattr(default, "factory", None)  # an attrs.Factory
        if factory is not None:
            if getattr(default, "takes_self", False):  # made from other values: not alone
                continue
            default = factory()
        if default is not attrs.NOTHING and default is not None:
            filled[field.name] = unstructure(default)
    return filled


def config_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[Change]:
    """Every setting that differs between two unstructured configurations, in path order."""
    before, after = _leaves(saved, ""), _leaves(current, "")
    changes = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path, MISSING), after.get(path, MISSING)
        if old != new:
            changes.append(Change(path=path, saved=old, current=new))
    return changes


def binding(changes: Sequence[Change]) -> list[Change]:
    """The changes that break exact resume or the comparability of validation metrics."""
    return [change for change in changes if not change.free]


def describe(change: Change) -> str:
    """``path: saved -> current``, values as the config file would write them."""
    return f"{change.path}: {change.saved!r} -> {change.current!r}"
