"""Field helpers for config classes: a documented ``setting`` and validators whose messages
speak TOML (``must be > 0, got -4``) and that describe themselves for the reference page.

Plugins declare their option classes with the same helpers, so their errors read the same.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from autovoice.errors import ConfigIssue


def show(value: Any) -> str:
    """A value as it would be written in TOML: ``"text"``, ``true``, ``4``, ``[1, 2]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


@attrs.frozen
class Check:
    """A single-field rule. ``rule`` completes "must be …"; ``test`` says whether a value passes."""

    rule: str
    test: Callable[[Any], bool] = attrs.field(eq=False)

    def __call__(self, _inst: object, _attr: attrs.Attribute[Any], value: Any) -> None:
        if not self.test(value):
            raise ValueError(f"must be {self.rule}, got {show(value)}")

    def describe(self) -> str:
        return self.rule


@attrs.frozen
class Relation:
    """A rule between two fields of one section, checked once the section is built.

    ``op`` compares this field's value with ``scale * other``.
    """

    op: str
    other: str
    scale: float = 1.0

    def __call__(self, inst: object, _attr: attrs.Attribute[Any], value: Any) -> None:
        if inst is None:  # checked per field before the section exists: nothing to compare yet
            return
        bound = getattr(inst, self.other)
        if value is None or bound is None:
            return
        limit = bound * self.scale
        if not _OPS[self.op](value, limit):
            raise ValueError(
                f"must be {self.op} {self._other_text()} ({limit:g}), got {show(value)}"
            )

    def _other_text(self) -> str:
        return self.other if self.scale == 1.0 else f"{self.other} * {self.scale:g}"

    def describe(self) -> str:
        return f"{self.op} {self._other_text()}"


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def gt(bound: float) -> Check:
    return Check(f"> {bound:g}", lambda v: _number(v) and v > bound)


def ge(bound: float) -> Check:
    return Check(f">= {bound:g}", lambda v: _number(v) and v >= bound)


def between(low: float, high: float) -> Check:
    """``low <= value <= high``."""
    return Check(f"between {low:g} and {high:g}", lambda v: _number(v) and low <= v <= high)


def one_of(*choices: Any) -> Check:
    listing = ", ".join(show(c) for c in choices)
    return Check(f"one of {listing}", lambda v: v in choices)


def nonempty() -> Check:
    return Check("non-empty", lambda v: len(v) > 0)


def each(check: Check) -> Check:
    """Apply ``check`` to every item of a sequence."""
    return Check(f"a list of values each {check.rule}", lambda v: all(check.test(x) for x in v))


def optional(check: Check) -> Check:
    """``check``, or the value is absent (None)."""
    return Check(f"{check.rule} (or unset)", lambda v: v is None or check.test(v))


WHOLE = Check("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool))
"""An integer, not a float or a boolean (``true`` is an int to Python, not to TOML)."""


A_LIST = Check("a list", lambda v: isinstance(v, tuple))
"""A TOML array, once :func:`as_tuple` has made it a tuple."""


def as_tuple(value: object) -> object:
    """A field converter: a TOML array (a list) becomes a tuple, so the frozen field stays
    hashable; anything else is left for the field's checks to judge."""
    return tuple(value) if isinstance(value, list) else value


def hop_multiple(samples: int, hop_length: int, path: str) -> list[ConfigIssue]:
    """The issue, if any, with a clip of ``samples`` that is not a whole number of mel frames
    of ``hop_length``; ``path`` names the field that sets ``samples``."""
    if samples % hop_length == 0:
        return []
    message = (
        f"must be a multiple of $.audio.hop_length ({hop_length}) so that a clip holds whole "
        f"mel frames, got {samples}"
    )
    return [ConfigIssue(path, message)]


def setting(
    default: Any = attrs.NOTHING,
    *,
    doc: str,
    checks: Sequence[Check | Relation] = (),
    factory: Callable[[], Any] | None = None,
    converter: Callable[[Any], Any] | None = None,
    plugin: str | None = None,
) -> Any:
    """A config field with its documentation and rules. ``plugin`` marks a field that names a
    plugin of that kind (``model``, ``backend``, …), resolved against the registry."""
    metadata: dict[str, Any] = {"doc": doc}
    if plugin is not None:
        metadata["plugin"] = plugin
    validator = attrs.validators.and_(*checks) if checks else None
    if factory is not None:
        return attrs.field(
            factory=factory, validator=validator, metadata=metadata, converter=converter
        )
    return attrs.field(default=default, validator=validator, metadata=metadata, converter=converter)


def rules_of(field: attrs.Attribute[Any]) -> list[Check | Relation]:
    """The checks attached to a field, in order (for per-field checking and for the docs)."""
    validator = field.validator
    if validator is None:
        return []
    inner = getattr(validator, "_validators", None)
    members = list(inner) if inner is not None else [validator]
    return [v for v in members if isinstance(v, (Check, Relation))]
