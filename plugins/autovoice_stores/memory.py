"""The ``memory`` checkpoint store: keys live in this process, for tests and programs.

Stores created with the same URI (``memory://run-1``) share their keys, so a trainer and a
loader built separately in one process see the same checkpoints. Nothing survives the process.
"""

from __future__ import annotations

import builtins
import threading

from autovoice_stores.base import StoreError, check_key

SCHEME = "memory://"

_LOCK = threading.Lock()
_SPACES: dict[str, dict[str, bytes]] = {}


class MemoryStore:
    """Checkpoints in memory; see :class:`autovoice_stores.base.CheckpointStore`.

    A write stores an immutable copy of the bytes in one step, so it is atomic and never leaves
    a temporary behind.
    """

    def __init__(self, *, uri: str = SCHEME) -> None:
        if not isinstance(uri, str) or not uri.startswith(SCHEME):
            raise StoreError(f"store {uri!r}: a memory store URI looks like 'memory://NAME'")
        self._uri = uri
        with _LOCK:
            self._keys = _SPACES.setdefault(uri[len(SCHEME) :], {})

    @property
    def uri(self) -> str:
        return self._uri

    def __repr__(self) -> str:
        return f"MemoryStore(uri={self._uri!r})"

    def write_bytes(self, key: str, data: bytes) -> None:
        check_key(key, self._uri)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise StoreError(
                f"store {self._uri}: key {key!r}: data must be bytes, got {type(data).__name__}"
            )
        value = bytes(data)
        with _LOCK:
            clash = _clash(self._keys, key)
            if clash is None:
                self._keys[key] = value
        if clash is not None:
            raise StoreError(
                f"store {self._uri}: cannot write key {key!r}: it clashes with key {clash!r} "
                "(a key cannot also be a directory of keys)"
            )

    def read_bytes(self, key: str) -> bytes:
        check_key(key, self._uri)
        with _LOCK:
            value = self._keys.get(key)
        if value is None:
            raise StoreError(f"store {self._uri}: no key {key!r}")
        return value

    def exists(self, key: str) -> bool:
        check_key(key, self._uri)
        with _LOCK:
            return key in self._keys

    def list(self, prefix: str = "") -> list[str]:
        if not isinstance(prefix, str):
            raise StoreError(f"store {self._uri}: prefix must be a string, got {prefix!r}")
        with _LOCK:
            return sorted(key for key in self._keys if key.startswith(prefix))

    def delete(self, key: str) -> None:
        check_key(key, self._uri)
        with _LOCK:
            self._keys.pop(key, None)

    def cleanup_temporaries(self, older_than: float = 0.0) -> builtins.list[str]:
        return []  # writes are a single assignment: there are never temporaries

    def clear(self) -> None:
        """Remove every key of this store (and of every store sharing its URI)."""
        with _LOCK:
            self._keys.clear()


def _clash(keys: dict[str, bytes], key: str) -> str | None:
    """An existing key that is a directory of ``key`` or lies under ``key``, as on a disk."""
    parts = key.split("/")
    for end in range(1, len(parts)):
        parent = "/".join(parts[:end])
        if parent in keys:
            return parent
    below = key + "/"
    return next((other for other in keys if other.startswith(below)), None)
