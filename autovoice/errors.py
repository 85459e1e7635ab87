"""The errors autovoice raises on purpose: each one is a message a user can act on."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import attrs


class AutovoiceError(Exception):
    """Base of every error autovoice raises for bad input or a missing piece.

    The command line prints ``str(error)`` and exits non-zero; a traceback only with ``--debug``.
    """


@attrs.frozen
class ConfigIssue:
    """One problem in a configuration: where it is (``$.training.batch_size``) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return self.message if self.path == "$" else f"{self.path}: {self.message}"


class ConfigError(AutovoiceError):
    """Every problem found in a configuration, reported together, each with its TOML path."""

    def __init__(self, issues: Sequence[ConfigIssue], source: str | None = None) -> None:
        self.issues = tuple(issues)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.source}: " if self.source else ""
        if len(self.issues) == 1:
            return f"{where}{self.issues[0]}"
        lines = [f"{where}{len(self.issues)} problems in the configuration:"]
        lines += [f"  {issue}" for issue in self.issues]
        return "\n".join(lines)


class PluginError(AutovoiceError):
    """A plugin could not be found, loaded or used."""


class UnknownPluginError(PluginError):
    """A name that no installed plugin provides; the message suggests the closest one."""

    def __init__(self, kind: str, name: str, installed: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.installed = tuple(sorted(installed))
        super().__init__(unknown_name_message(kind, name, self.installed))


class PluginUnavailableError(PluginError):
    """A known plugin whose requirements are missing; the message says what to install."""


class DuplicatePluginError(PluginError):
    """Two plugins registered the same name; the message names both."""


class BackendError(AutovoiceError):
    """An inference backend could not load or run an artifact; names the file or input."""


class StoreError(AutovoiceError):
    """A checkpoint store could not read or write a key; names the store and the key."""


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_name_message(kind: str, name: str, installed: Sequence[str]) -> str:
    """``unknown backend 'onnxruntme'; did you mean 'onnxruntime'? installed: a, b``."""
    message = f"unknown {kind} {name!r}"
    suggestion = closest(name, installed)
    if suggestion is not None:
        message += f"; did you mean {suggestion!r}?"
    listing = ", ".join(installed) if installed else "none"
    return f"{message} (installed {kind}s: {listing})"
