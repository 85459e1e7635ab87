"""Reading config files, ``--set`` overrides, plugin option tables and TOML output.

File reading happens only in :func:`read_toml`; everything else takes and returns values.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import tomli_w

from autovoice.config.schema import Config
from autovoice.config.structure import converter, issues_of, relation_errors, structure, unstructure
from autovoice.errors import ConfigError, ConfigIssue, PluginError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

UNSET_PLUGIN = ("", "auto")
"""Plugin-name values that choose nothing yet: empty, or ``auto`` (decided at run time)."""


class SpecLookup(Protocol):
    """What option resolution needs of a registry: ``get(kind, name) -> spec``."""

    def get(self, kind: str, name: str) -> Any: ...


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed TOML file, or a ConfigError naming the file (and line, for syntax errors)."""
    try:
        with open(path, "rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
            return data
    except FileNotFoundError:
        raise ConfigError([ConfigIssue("$", "file not found")], str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue("$", f"cannot read: {exc}")], str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue("$", f"invalid TOML: {exc}")], str(path)) from None


def parse_config(
    data: Mapping[str, Any],
    *,
    overrides: Sequence[str] = (),
    registry: SpecLookup | None = None,
    source: str | None = None,
) -> Config:
    """Structure ``data`` into a Config, apply ``overrides`` and resolve plugin options.

    Every problem, from any of these steps, is reported in one ConfigError.
    """
    merged = dict(data)
    issues: list[ConfigIssue] = []
    for text in overrides:
        try:
            merged = set_path(merged, *parse_override(text))
        except ConfigError as exc:
            issues.extend(exc.issues)
    try:
        config = converter().structure(merged, Config)
    except Exception as exc:
        issues.extend(issues_of(exc))
        if registry is not None:  # still check plugin options of the sections that are sound
            for name, section in _sound_sections(merged):
                _resolve_section(section, registry, f"$.{name}", issues)
        raise ConfigError(issues, source) from None
    if registry is not None:
        config, plugin_issues = resolve_plugins(config, registry)
        issues.extend(plugin_issues)
    if issues:
        raise ConfigError(issues, source)
    return config


def _sound_sections(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Sections of a config with problems elsewhere that structure on their own."""
    sound = []
    for field in attrs.fields(attrs.resolve_types(Config)):
        raw = data.get(field.name, {})
        if not isinstance(raw, Mapping):
            continue
        try:
            sound.append((field.name, converter().structure(raw, field.type)))  # type: ignore[arg-type]
        except Exception:  # reported already, with paths, by the whole-config pass
            continue
    return sound


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Sequence[str] = (),
    registry: SpecLookup | None = None,
) -> Config:
    """Read a TOML config file (None: the defaults), then as :func:`parse_config`."""
    data = read_toml(path) if path is not None else {}
    return parse_config(
        data, overrides=overrides, registry=registry, source=str(path) if path else None
    )


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``"training.batch_size=8"`` -> (("training", "batch_size"), 8). Values are TOML literals;
    a value that is not one (``model.name=voice_transformer``) is taken as a string."""
    key, sep, raw = text.partition("=")
    keys = tuple(part.strip() for part in key.split("."))
    if not sep or not all(keys):
        raise ConfigError([ConfigIssue("--set", f"expected KEY.PATH=VALUE, got {text!r}")])
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return keys, value


def set_path(data: Mapping[str, Any], keys: Sequence[str], value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``value`` at ``keys``; the input is left as it was."""
    head, rest = keys[0], keys[1:]
    result = dict(data)
    if not rest:
        result[head] = value
        return result
    child = result.get(head, {})
    if not isinstance(child, Mapping):
        path = "$." + ".".join(keys[:1])
        raise ConfigError([ConfigIssue(path, f"is not a table, cannot set {'.'.join(rest)}")])
    result[head] = set_path(child, rest, value)
    return result


def apply_overrides(config: Config, overrides: Iterable[str]) -> Config:
    """A new Config with each ``KEY.PATH=VALUE`` applied through :func:`attrs.evolve`."""
    for text in overrides:
        keys, value = parse_override(text)
        config = _evolve_path(config, keys, value, "$")
    return config


def _evolve_path(obj: Any, keys: Sequence[str], value: Any, path: str) -> Any:
    head, rest = keys[0], keys[1:]
    here = f"{path}.{head}"
    if isinstance(obj, Mapping):
        current = obj.get(head, {})
        new = _evolve_path(current, rest, value, here) if rest else value
        return {**obj, head: new}
    cls = type(obj)
    fields = {f.name: f for f in attrs.fields(attrs.resolve_types(cls))} if attrs.has(cls) else {}
    if head not in fields:
        raise ConfigError([ConfigIssue(here, "unknown key")])
    field = fields[head]
    if rest:
        new = _evolve_path(getattr(obj, head), rest, value, here)
    else:
        new = structure(value, field.type, here)
    with attrs.validators.disabled():
        evolved = attrs.evolve(obj, **{head: new})
    problems = structure_issues(evolved, path)
    if problems:
        raise ConfigError(problems)
    return evolved


def structure_issues(section: Any, path: str) -> list[ConfigIssue]:
    """Re-check a section built in Python (every rule, including those between fields)."""
    try:
        structure(unstructure(section), type(section), path)
    except ConfigError as exc:
        return list(exc.issues)
    return [ConfigIssue(f"{path}.{e.field}", str(e)) for e in relation_errors(section)]


def resolve_plugins(config: Config, registry: SpecLookup) -> tuple[Config, list[ConfigIssue]]:
    """Check every plugin name against the registry and structure each ``options`` table against
    the option class its plugin declares. Returns the resolved config and the problems found."""
    issues: list[ConfigIssue] = []
    changes = {}
    for section_field in attrs.fields(Config):
        section = getattr(config, section_field.name)
        path = f"$.{section_field.name}"
        resolved = _resolve_section(section, registry, path, issues)
        if resolved is not section:
            changes[section_field.name] = resolved
    return attrs.evolve(config, **changes), issues


def _store_by_uri(kind: str, name: str, registry: SpecLookup) -> bool:
    """``store = "auto"``: the store is the one serving the URI's scheme."""
    return kind == "store" and name == "auto" and hasattr(registry, "store_for")


def _resolve_section(
    section: Any, registry: SpecLookup, path: str, issues: list[ConfigIssue]
) -> Any:
    owner = None
    for field in attrs.fields(type(section)):
        kind = field.metadata.get("plugin")
        name = getattr(section, field.name)
        if kind is None or (name in UNSET_PLUGIN and not _store_by_uri(kind, name, registry)):
            continue
        try:
            if _store_by_uri(kind, name, registry):
                spec = registry.store_for(getattr(section, "uri", "") or ".")  # type: ignore[attr-defined]
            else:
                spec = registry.get(kind, name)
        except PluginError as exc:
            issues.append(ConfigIssue(f"{path}.{field.name}", str(exc)))
            continue
        owner = owner or spec  # the first plugin field of a section owns its options table
    options = getattr(section, "options", None)
    if owner is None or options is None:
        return section
    if owner.options_type is None:
        if options:
            issues.append(
                ConfigIssue(f"{path}.options", f"{owner.kind} {owner.name!r} takes no options")
            )
        return section
    if not isinstance(options, Mapping):  # already resolved
        return section
    try:
        structured = structure(unstructure(options), owner.options_type, f"{path}.options")
    except ConfigError as exc:
        issues.extend(exc.issues)
        return section
    with attrs.validators.disabled():
        return attrs.evolve(section, options=structured)


def dump_toml(config: Config) -> str:
    """The fully resolved config as TOML: defaults included, None values left out."""
    return tomli_w.dumps(unstructure(config))
