"""The ``file`` checkpoint store: each key is a file under a root directory.

A write goes to a temporary ``.NAME.tmp-HEX`` next to its key, is flushed (and fsynced), then
renamed over the key with :func:`os.replace`, which is atomic on POSIX and Windows; the directory
is then fsynced so the rename itself survives a power loss.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from autovoice_stores.base import (
    KeyedStore,
    StoreError,
    check_key,
    temporary_name,
    temporary_target,
)
from autovoice_stores.options import FileStoreOptions


def root_of(uri: str | os.PathLike[str]) -> Path:
    """The directory named by a plain path or a ``file://`` URI (``file:///abs/dir``)."""
    text = os.fspath(uri)
    if not text:
        raise StoreError("file store: the location is empty; give a directory or file:// URI")
    if "://" not in text:
        return Path(text)
    parts = urlsplit(text)
    if parts.scheme != "file":
        raise StoreError(f"store {text}: the file store serves plain paths and file:// URIs only")
    if parts.netloc not in ("", "localhost"):
        raise StoreError(
            f"store {text}: host {parts.netloc!r} is not this machine; use file:///absolute/path"
        )
    path = unquote(parts.path)
    if os.name == "nt" and len(path) > 2 and path[0] == "/" and path[2] == ":":
        path = path[1:]  # file:///C:/runs -> C:/runs
    if not path or parts.query or parts.fragment:
        raise StoreError(f"store {text}: a file:// URI must be a path, with no query or fragment")
    return Path(path)


class LocalStore(KeyedStore):
    """Checkpoints in a local directory; see :class:`autovoice_stores.base.CheckpointStore`."""

    def __init__(
        self, options: FileStoreOptions | None = None, *, uri: str | os.PathLike[str]
    ) -> None:
        self.options = options if options is not None else FileStoreOptions()
        self._uri = os.fspath(uri)
        self.root = root_of(self._uri)

    def __repr__(self) -> str:
        return f"LocalStore(uri={self._uri!r}, fsync={self.options.fsync})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key, self._uri).split("/"))

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._check_data(key, data)
        try:
            created = _make_parents(path.parent)
            tmp = path.with_name(temporary_name(path.name, secrets.token_hex(8)))
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            fd = os.open(tmp, flags, 0o666)
        except OSError as exc:
            raise self._fail("write", key, exc) from exc
        try:
            self._fill(fd, data)
            os.replace(tmp, path)
        except BaseException as exc:
            _remove_quietly(tmp)
            if isinstance(exc, OSError):
                raise self._fail("write", key, exc) from exc
            raise
        if self.options.fsync:
            self._sync(key, {path.parent, *(d.parent for d in created)})

    def _fill(self, fd: int, data: bytes) -> None:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            if self.options.fsync:
                os.fsync(file.fileno())

    def _sync(self, key: str, directories: set[Path]) -> None:
        try:
            for directory in sorted(directories, reverse=True):
                _sync_directory(directory)
        except OSError as exc:
            raise self._fail("sync the directory of", key, exc) from exc

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise StoreError(f"store {self._uri}: no key {key!r}") from exc
        except OSError as exc:
            raise self._fail("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """The size in bytes of ``key``'s value, without reading it."""
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise StoreError(f"store {self._uri}: no key {key!r}") from exc
        except OSError as exc:
            raise self._fail("read", key, exc) from exc

    def list(self, prefix: str = "") -> list[str]:
        self._check_prefix(prefix)
        return self._complete_keys((base + name for base, _, name in self._files(prefix)), prefix)

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_dir():
            return  # a directory of keys is not a key
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise self._fail("delete", key, exc) from exc
        emptied = self._prune(path.parent)
        if self.options.fsync:
            self._sync(key, {emptied[-1].parent if emptied else path.parent})

    def _prune(self, directory: Path) -> builtins.list[Path]:
        """Remove ``directory`` and its parents below the root while they are empty (a
        directory is only where keys live); return the ones removed."""
        removed = []
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:  # not empty (or already gone): stop here
                break
            removed.append(directory)
            directory = directory.parent
        return removed

    def cleanup_temporaries(self, older_than: float = 0.0) -> builtins.list[str]:
        now = time.time()
        removed = set()
        for base, dirpath, name in self._files():
            target = temporary_target(name)
            if target is None:
                continue
            path = Path(dirpath, name)
            try:
                if now - path.stat().st_mtime < older_than:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue  # its writer finished or another cleanup got there first
            except OSError as exc:
                raise StoreError(
                    f"store {self._uri}: cannot remove temporary {path}: {exc}"
                ) from exc
            removed.add(base + target)
        return sorted(removed)

    def _files(self, prefix: str = "") -> Iterator[tuple[str, str, str]]:
        """``(key prefix of the directory, directory path, file name)`` for every file under the
        root, skipping directories whose keys cannot start with ``prefix``."""
        for dirpath, dirnames, filenames in os.walk(self.root, onerror=self._walk_error):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel == "." else rel + "/"
            dirnames[:] = [d for d in dirnames if _may_hold(base + d + "/", prefix)]
            for name in filenames:
                yield base, dirpath, name

    def _walk_error(self, exc: OSError) -> None:
        if not isinstance(exc, FileNotFoundError):  # a missing root or a vanished dir is empty
            raise StoreError(f"store {self._uri}: cannot list {exc.filename}: {exc}") from exc


def _may_hold(directory: str, prefix: str) -> bool:
    return directory.startswith(prefix) or prefix.startswith(directory)


def _make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return the ones created."""
    missing = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    directory.mkdir(parents=True, exist_ok=True)
    return missing


def _sync_directory(directory: Path) -> None:
    if os.name == "nt":
        return  # directories cannot be opened on Windows; NTFS journals the rename itself
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
