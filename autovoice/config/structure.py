"""Structuring TOML into the config tree and back, collecting every problem with its path.

cattrs does the structuring (``forbid_extra_keys``, detailed validation); this module adds strict
scalar hooks (TOML ``"8"`` is not an integer), runs each field's rules while the field is
structured so that range errors and type errors are reported together, checks rules between
fields once a section exists, and flattens cattrs' exception groups into :class:`ConfigIssue`\\ s.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from autovoice.config.fields import Relation, rules_of, show
from autovoice.errors import ConfigError, ConfigIssue, closest

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

T = TypeVar("T")

_TOML_TYPES = {bool: "boolean", int: "integer", float: "float", str: "string"}


def _toml_type(value: Any) -> str:
    for py, name in _TOML_TYPES.items():
        if type(value) is py:
            return name
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "table"
    return type(value).__name__


def _scalar_hook(expected: str, accept: Callable[[Any], bool], cast: Callable[[Any], Any]) -> Any:
    def hook(value: Any, _type: Any) -> Any:
        if not accept(value):
            raise TypeError(f"expected {expected}, got {_toml_type(value)} {show(value)}")
        return cast(value)

    return hook


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _checked_field_hook(conv: cattrs.Converter, field: attrs.Attribute[Any]) -> Any:
    """Structure one field and run its single-field rules, so errors carry the field's path."""

    def hook(value: Any, type_: Any) -> Any:
        result = conv.structure(value, type_)
        for rule in rules_of(field):
            if not isinstance(rule, Relation):
                rule(None, field, result)
        return result

    return hook


class RelationError(ValueError):
    """A rule between two fields of a section failed (carries the field name)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def relation_errors(obj: Any) -> list[RelationError]:
    """Rules between fields of one built section that fail."""
    errors = []
    for field in attrs.fields(type(obj)):
        for rule in rules_of(field):
            if isinstance(rule, Relation):
                try:
                    rule(obj, field, getattr(obj, field.name))
                except ValueError as exc:
                    errors.append(RelationError(field.name, str(exc)))
    return errors


def _class_hook(conv: cattrs.Converter, cls: Any) -> Callable[[Any, Any], Any]:
    attrs.resolve_types(cls)
    overrides = {
        f.name: override(struct_hook=_checked_field_hook(conv, f))
        for f in attrs.fields(cls)
        if rules_of(f) and not attrs.has(f.type)
    }
    base = make_dict_structure_fn(cls, conv, **overrides)  # type: ignore[arg-type]

    def hook(data: Any, type_: Any) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a table, got {_toml_type(data)} {show(data)}")
        with attrs.validators.disabled():  # rules already ran per field; relations run below
            obj = base(data, type_)
        errors = relation_errors(obj)
        if errors:
            raise ClassValidationError(f"While checking {cls.__name__}", errors, cls)
        return obj

    return hook


@functools.cache
def converter() -> cattrs.Converter:
    """The converter for config classes and plugin option classes."""
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(int, _scalar_hook("an integer", _is_int, int))
    conv.register_structure_hook(
        float, _scalar_hook("a number", lambda v: _is_int(v) or type(v) is float, float)
    )
    conv.register_structure_hook(
        bool, _scalar_hook("true or false", lambda v: type(v) is bool, bool)
    )
    conv.register_structure_hook(str, _scalar_hook("a string", lambda v: type(v) is str, str))
    conv.register_structure_hook_factory(attrs.has, lambda cls: _class_hook(conv, cls))
    conv.register_unstructure_hook(
        MappingProxyType, lambda m: {k: conv.unstructure(v) for k, v in m.items()}
    )
    return conv


def _step(note: AttributeValidationNote | IterableValidationNote) -> str:
    """The path step a cattrs note names: ``.key`` of a class, ``[index]`` of a list."""
    if isinstance(note, AttributeValidationNote):
        return f".{note.name}"
    return f"[{note.index}]"


def issues_of(exc: BaseException, path: str = "$") -> Iterator[ConfigIssue]:
    """Flatten cattrs' exception groups into issues, each with its ``$.a.b[2]`` path."""
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        noted, rest = exc.group_exceptions()
        for inner, note in noted:
            yield from issues_of(inner, path + _step(note))
        for inner in rest:
            yield from issues_of(inner, path)
    elif isinstance(exc, RelationError):
        yield ConfigIssue(f"{path}.{exc.field}", str(exc))
    elif isinstance(exc, ForbiddenExtraKeysError):
        known = [f.name for f in attrs.fields(exc.cl)]
        for key in sorted(exc.extra_fields):
            hint = closest(key, known)
            suggestion = (
                f"; did you mean {hint!r}?" if hint else f"; known keys: {', '.join(known)}"
            )
            yield ConfigIssue(f"{path}.{key}", f"unknown key{suggestion}")
    elif isinstance(exc, ExceptionGroup):
        for inner in exc.exceptions:
            yield from issues_of(inner, path)
    else:
        yield ConfigIssue(path, str(exc) or type(exc).__name__)


def structure(
    data: Mapping[str, Any], cls: type[T], path: str = "$", source: str | None = None
) -> T:
    """Structure ``data`` into ``cls``; raise :class:`ConfigError` listing every problem."""
    try:
        return converter().structure(data, cls)
    except Exception as exc:
        raise ConfigError(list(issues_of(exc, path)), source) from None


def unstructure(obj: Any) -> Any:
    """Plain dicts, lists and scalars (None values dropped, since TOML has no null)."""
    return _drop_none(converter().unstructure(obj))


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    return value
