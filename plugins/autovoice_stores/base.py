"""The checkpoint store contract, its error, and the key rules every store shares.

A store is built by its spec's factory: ``LocalStore(options, uri="runs/a")`` or
``FsspecStore(options, uri="memory://a")``. Keys are ``/``-separated relative paths such as
``"ckpt/step-001000.pt"``; see :func:`check_key` for what is refused.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from autovoice.errors import StoreError

__all__ = [
    "CheckpointStore",
    "KeyedStore",
    "StoreError",
    "check_key",
    "key_problem",
    "temporary_name",
    "temporary_target",
]


@runtime_checkable
class CheckpointStore(Protocol):
    """What every checkpoint store provides.

    Writes are atomic per key: a key is absent or holds exactly the bytes last written to it in
    full. A write that fails at any point leaves what the key held before and no temporary
    behind. Every failure is a :class:`StoreError` naming :attr:`uri` and the key.
    """

    @property
    def uri(self) -> str:
        """The location this store was created for, as given (used in every message)."""
        ...

    def write_bytes(self, key: str, data: bytes) -> None:
        """Replace the content of ``key`` with ``data``, atomically."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """The content of ``key``; a missing key raises :class:`StoreError`."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a complete value."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Complete keys starting with ``prefix`` (plain string prefix), sorted; temporaries of
        writes in progress or interrupted are never listed."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...

    def cleanup_temporaries(self, older_than: float = 0.0) -> builtins.list[str]:
        """Remove temporaries left by interrupted writes whose age is at least ``older_than``
        seconds, and return the keys they were meant for, sorted. Call it while no write is in
        progress (at start-up), or pass an age no write takes."""
        ...


TEMP_MARK = ".tmp-"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-[0-9a-f]{16}$")


def temporary_name(name: str, token: str) -> str:
    """The file name of a temporary for the key part ``name``: ``.NAME.tmp-TOKEN``."""
    return f".{name}{TEMP_MARK}{token}"


def temporary_target(name: str) -> str | None:
    """The key part a temporary file name was written for, or None if it is no temporary."""
    match = _TEMP_NAME.match(name)
    return match.group("name") if match else None


def check_key(key: object, uri: str) -> str:
    """Return ``key`` if it is a valid store key, else raise :class:`StoreError` naming it.

    Refused: non-strings, empty keys, absolute keys, backslashes, ':' and NUL (portable file
    names that cannot escape a directory on any system), empty parts
    (``a//b``, a trailing ``/``), ``.`` and ``..`` parts, and parts shaped like temporaries.
    """
    problem = key_problem(key)
    if problem is not None:
        raise StoreError(f"store {uri}: invalid key {key!r}: {problem}")
    return key  # type: ignore[return-value]


def key_problem(key: object) -> str | None:
    """Why ``key`` is not a valid store key, or None when it is."""
    if not isinstance(key, str):
        return f"keys are strings, got {type(key).__name__}"
    if not key:
        return "keys must not be empty"
    if key.startswith("/"):
        return "keys are relative paths; remove the leading '/'"
    if "\\" in key or "\0" in key or ":" in key:
        return "keys use '/' as separator and contain no backslash, ':' or NUL"
    for part in key.split("/"):
        if part in ("", ".", ".."):
            return "parts of a key must not be empty, '.' or '..'"
        if temporary_target(part) is not None:
            return "names of the form '.NAME.tmp-HEX' are reserved for temporaries"
    return None


_BYTES = (bytes, bytearray, memoryview)


class KeyedStore:
    """What the built-in stores share: their URI, named in every message, and the checks on a
    value to write and on a prefix to list, with the listing's filter."""

    _uri: str

    @property
    def uri(self) -> str:
        return self._uri

    def _fail(self, action: str, key: str, exc: BaseException) -> StoreError:
        return StoreError(f"store {self._uri}: cannot {action} key {key!r}: {exc}")

    def _check_data(self, key: str, data: object) -> None:
        if not isinstance(data, _BYTES):
            raise StoreError(
                f"store {self._uri}: key {key!r}: data must be bytes, got {type(data).__name__}"
            )

    def _check_prefix(self, prefix: object) -> None:
        if not isinstance(prefix, str):
            raise StoreError(f"store {self._uri}: prefix must be a string, got {prefix!r}")

    @staticmethod
    def _complete_keys(found: Iterable[str], prefix: str) -> builtins.list[str]:
        """The valid keys among ``found`` that start with ``prefix``, sorted (a temporary, or a
        file no key names, is left out)."""
        return sorted(k for k in found if k.startswith(prefix) and key_problem(k) is None)
