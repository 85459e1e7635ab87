"""The ``fsspec`` checkpoint store: keys under any fsspec URI (``memory://``, ``s3://``, ...).

A write goes to a temporary ``.NAME.tmp-HEX`` beside its key and is then moved into place (on
an object store the move is a server-side copy, and a single upload is atomic anyway: see
:class:`~autovoice_stores.options.FsspecStoreOptions`). ``file://`` and plain paths belong to
the ``file`` store, which also fsyncs.
"""

from __future__ import annotations

import builtins
import contextlib
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from autovoice_stores.base import (
    KeyedStore,
    StoreError,
    check_key,
    temporary_name,
    temporary_target,
)
from autovoice_stores.options import FsspecStoreOptions

_LOCAL = ("file", "local")
_TIME_FIELDS = ("mtime", "created", "LastModified", "last_modified", "updated", "modified")


def open_filesystem(uri: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    """The fsspec filesystem serving ``uri`` and the root path inside it."""
    import fsspec.core

    if not isinstance(uri, str) or "://" not in uri:
        raise StoreError(f"store {uri!r}: the fsspec store needs a URI such as memory://NAME")
    protocol = uri.split("://", 1)[0].split("::")[-1]
    if protocol in _LOCAL:
        raise StoreError(f"store {uri}: local paths belong to the file store, which fsyncs")
    try:
        fs, root = fsspec.core.url_to_fs(uri, **storage_options)
    except ImportError as exc:
        raise StoreError(f"store {uri}: the filesystem's package is missing: {exc}") from exc
    except Exception as exc:  # each backend raises its own types; all mean "cannot open"
        raise StoreError(f"store {uri}: cannot open: {exc}") from exc
    return fs, str(root).rstrip("/")


class FsspecStore(KeyedStore):
    """Checkpoints at an fsspec URI; see :class:`autovoice_stores.base.CheckpointStore`.

    Stores opened on the same URI share their keys (for ``memory://``: within one process).
    """

    def __init__(self, options: FsspecStoreOptions | None = None, *, uri: str) -> None:
        self.options = options if options is not None else FsspecStoreOptions()
        self._uri = uri
        self.fs, self.root = open_filesystem(uri, dict(self.options.storage_options))

    def __repr__(self) -> str:
        return f"FsspecStore(uri={self._uri!r})"

    def _path(self, key: str) -> str:
        key = check_key(key, self._uri)
        return f"{self.root}/{key}" if self.root else key

    def _key_of(self, path: str) -> str | None:
        """The key of a path that ``find`` returned, or None when it lies outside the root."""
        if self.root and not path.startswith(self.root + "/"):
            return None
        return path[len(self.root) :].lstrip("/")

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._check_data(key, data)
        self._refuse_clash(key)
        if not self.options.write_via_temporary:
            self._call("write", key, self.fs.pipe_file, path, bytes(data))
            return
        parent, _, name = path.rpartition("/")
        tmp = f"{parent}/{temporary_name(name, secrets.token_hex(8))}"
        try:
            self._call("write", key, self.fs.pipe_file, tmp, bytes(data))
            self._call("write", key, self.fs.mv, tmp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm_file(tmp)
            raise

    def _call(self, action: str, key: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except StoreError:
            raise
        except Exception as exc:  # backends raise OSError, their own errors, or ValueError
            raise self._fail(action, key, exc) from exc

    def _refuse_clash(self, key: str) -> None:
        """A key cannot also be a directory of keys, as on a disk (object stores allow it)."""
        parts = key.split("/")
        for end in range(1, len(parts)):
            parent = "/".join(parts[:end])
            if self._call("write", key, self.fs.isfile, self._path(parent)):
                raise StoreError(
                    f"store {self._uri}: cannot write key {key!r}: it clashes with key "
                    f"{parent!r} (a key cannot also be a directory of keys)"
                )
        if self._call("write", key, self.fs.isdir, self._path(key)):
            below = next(iter(self.list(key + "/")), key + "/...")
            raise StoreError(
                f"store {self._uri}: cannot write key {key!r}: it clashes with key {below!r} "
                "(a key cannot also be a directory of keys)"
            )

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return bytes(self.fs.cat_file(path))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise StoreError(f"store {self._uri}: no key {key!r}") from exc
        except Exception as exc:
            raise self._fail("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        return bool(self._call("check", key, self.fs.isfile, self._path(key)))

    def size(self, key: str) -> int:
        """The size in bytes of ``key``'s value, without reading it."""
        return int(self._call("read", key, self.fs.size, self._path(key)))

    def list(self, prefix: str = "") -> list[str]:
        self._check_prefix(prefix)
        return self._complete_keys(
            (key for key, _ in self._files(prefix.rpartition("/")[0])), prefix
        )

    def delete(self, key: str) -> None:
        path = self._path(key)
        if not self._call("delete", key, self.fs.isfile, path):
            return
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise self._fail("delete", key, exc) from exc

    def cleanup_temporaries(self, older_than: float = 0.0) -> builtins.list[str]:
        now = time.time()
        removed = set()
        for key, info in self._files(""):
            base, _, name = key.rpartition("/")
            target = temporary_target(name)
            if target is None or not _is_stale(info, now, older_than):
                continue
            try:
                self.fs.rm_file(str(info["name"]))
            except FileNotFoundError:
                continue
            except Exception as exc:
                raise StoreError(
                    f"store {self._uri}: cannot remove temporary {key}: {exc}"
                ) from exc
            removed.add(f"{base}/{target}" if base else target)
        return sorted(removed)

    def _files(self, directory: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(key, info)`` of every file under ``directory`` (a key prefix ending at a '/')."""
        top = f"{self.root}/{directory}" if directory else self.root
        try:
            found = self.fs.find(top or "/", detail=True)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise StoreError(f"store {self._uri}: cannot list {directory or '/'}: {exc}") from exc
        for path, info in found.items():
            key = self._key_of(path)
            if key and info.get("type", "file") == "file":
                yield key, info


def _is_stale(info: dict[str, Any], now: float, older_than: float) -> bool:
    """Whether a temporary is at least ``older_than`` seconds old; an unknown age counts only
    when any age does."""
    stamp = _timestamp(info)
    if stamp is None:
        return older_than <= 0
    return now - stamp >= older_than


def _timestamp(info: dict[str, Any]) -> float | None:
    for field in _TIME_FIELDS:
        value = info.get(field)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value).timestamp()
    return None
