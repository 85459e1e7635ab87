"""Names a module resolves on first use (its module ``__getattr__``), so importing it stays cheap.

A package lists its lazy names once, module → names (:func:`by_module` turns that into name →
module), and answers ``__getattr__`` with :func:`lazy_export`; a module whose class is made on
first use answers with :func:`made_once`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["by_module", "lazy_export", "made_once"]


def by_module(modules: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Each name of ``modules`` (module → the names it defines) mapped to its module; a name
    listed under two modules is a :class:`ValueError`."""
    exports: dict[str, str] = {}
    for module, names in modules.items():
        for name in names:
            if exports.setdefault(name, module) != module:
                raise ValueError(f"{name!r} is listed under {exports[name]} and {module}")
    return exports


def lazy_export(module: str, exports: Mapping[str, str], name: str) -> Any:
    """``name`` imported from the module ``exports`` names for it; an :class:`AttributeError`
    naming ``module`` (the asking module's ``__name__``) when it names none."""
    where = exports.get(name)
    if where is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return getattr(importlib.import_module(where), name)


def made_once(
    namespace: MutableMapping[str, Any], name: str, wanted: str, make: Callable[[], type]
) -> type:
    """The class ``wanted`` of the module whose ``globals()`` is ``namespace``: made by ``make``
    when first asked for (its ``__qualname__`` set to ``wanted``) and kept in ``namespace``, so
    later lookups find it without asking again; any other ``name`` is an AttributeError."""
    if name != wanted:
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
    made = make()
    made.__qualname__ = wanted
    namespace[wanted] = made
    return made
