"""The plugin manager factory and the registry that resolves plugin names to specs.

Nothing is loaded at import time and there is no module-level manager: call
:func:`make_plugin_manager` (or :meth:`Registry.discover`) where a pipeline, trainer or command is
assembled. Environment switches, read only by :func:`make_plugin_manager`:

``AUTOVOICE_PLUGINS``
    Comma-separated entry-point names to load; unset loads all, empty loads none.
``AUTOVOICE_TRACE_PLUGINS``
    Set to anything non-empty to trace every hook call on standard error.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import pluggy

from autovoice import _policy, hookspecs
from autovoice.errors import (
    DuplicatePluginError,
    PluginError,
    UnknownPluginError,
)
from autovoice.specs import SPEC_TYPES, BackendRequest, BackendSpec, PluginSpec

ENTRY_POINT_GROUP = "autovoice"
ALLOW_ENV = "AUTOVOICE_PLUGINS"
TRACE_ENV = "AUTOVOICE_TRACE_PLUGINS"

#: kind of spec -> the collector hook that returns specs of that kind
KIND_HOOKS: Mapping[str, str] = {
    "dataset": "autovoice_datasets",
    "model": "autovoice_models",
    "vocoder": "autovoice_vocoders",
    "store": "autovoice_checkpoint_stores",
    "backend": "autovoice_backends",
}


@attrs.frozen
class PluginSource:
    """Where a registered plugin came from: its distribution and version, or how it was added."""

    distribution: str
    version: str = ""

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}".strip()


DIRECT = PluginSource("registered directly")


class AutovoicePluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.sources: dict[str, PluginSource] = {}

    def register_from(self, plugin: object, name: str, source: PluginSource) -> None:
        self.register(plugin, name=name)
        self.sources[name] = source

    def source_of(self, name: str) -> PluginSource:
        return self.sources.get(name, DIRECT)


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """Entry points of the group, once each even when a distribution is on the path twice."""
    seen: dict[tuple[str, str, str], importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else ""
        seen.setdefault((ep.name, ep.value, dist), ep)
    return list(seen.values())


def _source(ep: importlib.metadata.EntryPoint) -> PluginSource:
    if ep.dist is None:
        return PluginSource("unknown distribution")
    return PluginSource(ep.dist.name, ep.dist.version)


def _allowed(environ: Mapping[str, str]) -> set[str] | None:
    raw = environ.get(ALLOW_ENV)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _select_entry_points(
    eps: Sequence[importlib.metadata.EntryPoint], allowed: set[str] | None
) -> list[importlib.metadata.EntryPoint]:
    by_name: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in eps:
        if ep.name in by_name:
            first = by_name[ep.name]
            raise DuplicatePluginError(
                f"plugin {ep.name!r} is registered twice: by {_source(first)} ({first.value}) "
                f"and by {_source(ep)} ({ep.value}); uninstall one of them"
            )
        by_name[ep.name] = ep
    if allowed is None:
        return list(by_name.values())
    unknown = sorted(allowed - by_name.keys())
    if unknown:
        raise UnknownPluginError("plugin", unknown[0], by_name)
    return [ep for name, ep in by_name.items() if name in allowed]


def _direct_name(pm: pluggy.PluginManager, plugin: object) -> str:
    """A readable, unique name for a plugin registered directly: its module or class name."""
    base = getattr(plugin, "__name__", None) or type(plugin).__qualname__
    name, n = base, 1
    while pm.has_plugin(name):
        n += 1
        name = f"{base}#{n}"
    return name


def make_plugin_manager(
    *,
    plugins: Iterable[object] = (),
    entry_points: bool = True,
    environ: Mapping[str, str] | None = None,
) -> AutovoicePluginManager:
    """A new plugin manager with the hookspecs, the built-in backend policy, the installed
    plugins (entry-point group ``autovoice``, filtered by ``AUTOVOICE_PLUGINS``) and ``plugins``
    (objects registered directly, as tests and programs do).

    Raises :class:`PluginError` when a plugin fails to import, implements a hook that does not
    exist, or shares an entry-point name with another.
    """
    environ = os.environ if environ is None else environ
    pm = AutovoicePluginManager()
    pm.add_hookspecs(hookspecs)
    pm.register_from(_policy, "autovoice.policy", PluginSource("autovoice (core)"))
    if entry_points:
        for ep in _select_entry_points(_entry_points(), _allowed(environ)):
            try:
                module = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {ep.name!r} from {_source(ep)} failed to load ({ep.value}): {exc}"
                ) from exc
            pm.register_from(module, ep.name, _source(ep))
    for plugin in plugins:
        pm.register_from(plugin, _direct_name(pm, plugin), DIRECT)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
    if environ.get(TRACE_ENV):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


@attrs.frozen
class Registered:
    """A spec, the plugin that returned it and the distribution that plugin came from."""

    spec: PluginSpec
    plugin: str
    source: PluginSource


def _check_schemes(stores: Mapping[str, Registered]) -> None:
    """A URI scheme may be served by one store only."""
    owner: dict[str, Registered] = {}
    for entry in stores.values():
        for scheme in getattr(entry.spec, "schemes", ()):
            first = owner.setdefault(scheme, entry)
            if first is not entry:
                raise DuplicatePluginError(
                    f"URI scheme {scheme!r} is served by two stores: {first.spec.name!r} "
                    f"(plugin {first.plugin!r}, {first.source}) and {entry.spec.name!r} "
                    f"(plugin {entry.plugin!r}, {entry.source})"
                )


class Registry:
    """Resolves plugin names to specs. Collects every hook once, on first use.

    Two plugins returning a spec of the same kind and name is an error that names both.
    """

    def __init__(self, pm: AutovoicePluginManager) -> None:
        self.pm = pm
        self._entries: dict[str, dict[str, Registered]] | None = None

    @classmethod
    def discover(cls, **kwargs: Any) -> Registry:
        """A registry over a new plugin manager; keyword arguments go to make_plugin_manager."""
        return cls(make_plugin_manager(**kwargs))

    def _collect(self) -> dict[str, dict[str, Registered]]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, dict[str, Registered]] = {kind: {} for kind in KIND_HOOKS}
        for kind, hook_name in KIND_HOOKS.items():
            caller = getattr(self.pm.hook, hook_name)
            for impl in reversed(caller.get_hookimpls()):  # registration order
                specs = list(impl.function() or ())
                self.pm.trace.root.get("collect")(
                    hook_name, impl.plugin_name, "->", [getattr(s, "name", s) for s in specs]
                )
                for spec in specs:
                    self._add(entries[kind], kind, spec, impl.plugin_name)
        _check_schemes(entries["store"])
        self._entries = entries
        return entries

    def _add(self, table: dict[str, Registered], kind: str, spec: Any, plugin: str) -> None:
        if not isinstance(spec, SPEC_TYPES[kind]):
            raise PluginError(
                f"plugin {plugin!r} returned {spec!r} from {KIND_HOOKS[kind]}; "
                f"expected {SPEC_TYPES[kind].__name__}"
            )
        entry = Registered(spec, plugin, self.pm.source_of(plugin))
        previous = table.get(spec.name)
        if previous is not None:
            raise DuplicatePluginError(
                f"{kind} {spec.name!r} is registered twice: by plugin {previous.plugin!r} "
                f"({previous.source}) and by plugin {plugin!r} ({entry.source})"
            )
        table[spec.name] = entry

    def entries(self, kind: str | None = None) -> list[Registered]:
        """Every registered spec (of one kind), sorted by kind then name."""
        tables = self._collect()
        kinds = [kind] if kind is not None else list(KIND_HOOKS)
        for k in kinds:
            if k not in tables:
                raise PluginError(f"unknown plugin kind {k!r}; kinds: {', '.join(KIND_HOOKS)}")
        return [tables[k][name] for k in kinds for name in sorted(tables[k])]

    def names(self, kind: str) -> list[str]:
        return [entry.spec.name for entry in self.entries(kind)]

    def get(self, kind: str, name: str) -> PluginSpec:
        """The spec of ``kind`` called ``name``; an unknown name suggests the closest one."""
        table = self._collect().get(kind)
        if table is None:
            raise PluginError(f"unknown plugin kind {kind!r}; kinds: {', '.join(KIND_HOOKS)}")
        if name not in table:
            raise UnknownPluginError(kind, name, table)
        return table[name].spec

    def store_for(self, uri: str) -> PluginSpec:
        """The checkpoint store serving ``uri``'s scheme (a plain path is ``file``)."""
        scheme = uri.split("://", 1)[0] if "://" in uri else "file"
        for entry in self.entries("store"):
            if scheme in getattr(entry.spec, "schemes", ()):
                return entry.spec
        schemes = sorted({s for e in self.entries("store") for s in getattr(e.spec, "schemes", ())})
        raise UnknownPluginError("store scheme", scheme, schemes)

    def select_backend(self, request: BackendRequest | None = None) -> BackendSpec:
        """The backend for ``backend = "auto"``: plugins' policies first, the built-in one last."""
        request = request or BackendRequest()
        candidates, refused = [], []
        for entry in self.entries("backend"):
            status = entry.spec.availability()
            if status.available:
                candidates.append(entry.spec)
            else:
                refused.append(f"{entry.spec.name} ({status})")
        name = self.pm.hook.autovoice_select_backend(request=request, candidates=candidates)
        if name is None:
            tried = "; ".join(refused) if refused else "no backend is installed"
            raise PluginError(f"no backend can serve {request}: {tried}")
        spec = self.get("backend", name)
        if not isinstance(spec, BackendSpec) or spec not in candidates:
            raise PluginError(f"backend policy chose {name!r}, which is not an available backend")
        return spec


def describe_plugins(registry: Registry) -> list[dict[str, Any]]:
    """One row per registered spec (and per plugin that returns no spec): what ``autovoice
    plugins`` prints. Checks availability, which may run a plugin's probe."""
    rows = []
    for entry in registry.entries():
        status = entry.spec.availability()
        rows.append(
            {
                "name": entry.spec.name,
                "kind": entry.spec.kind,
                "plugin": entry.plugin,
                "distribution": entry.source.distribution,
                "version": entry.source.version,
                "available": status.available,
                "reason": status.reason,
                "description": entry.spec.description,
            }
        )
    with_specs = {entry.plugin for entry in registry.entries()}
    for name, plugin in registry.pm.list_name_plugin():
        if name in with_specs or plugin is _policy:
            continue
        hooks = sorted(caller.name for caller in registry.pm.get_hookcallers(plugin) or ())
        source = registry.pm.source_of(name)
        rows.append(
            {
                "name": name,
                "kind": "hooks",
                "plugin": name,
                "distribution": source.distribution,
                "version": source.version,
                "available": True,
                "reason": "",
                "description": "implements " + ", ".join(hooks),
            }
        )
    return rows
