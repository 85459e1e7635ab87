"""Finding, listing, verifying and removing checkpoints in a store (no torch).

A checkpoint is complete when its ``meta.json`` exists; it is intact when that metadata and
every file it lists match their checksums. Prefixes without metadata are what an interrupted
save leaves behind: :func:`recover` removes them, never anything else.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

import attrs

from autovoice.errors import AutovoiceError
from autovoice.training.checkpoints.meta import parse_meta, record_of, verify_file
from autovoice.training.checkpoints.records import (
    META_FILE,
    CheckpointCorruptError,
    CheckpointError,
    CheckpointRecord,
    CheckpointWriteError,
    NoCheckpointError,
    step_of_name,
)


def open_store(
    location: str | os.PathLike[str],
    *,
    store: str = "auto",
    options: Any = None,
    registry: Any = None,
) -> Any:
    """The checkpoint store for ``location`` (a directory or URI). ``store`` names the store
    plugin (``auto``: by the URI's scheme); ``options`` is its option object or table."""
    from autovoice.config import structure, unstructure
    from autovoice.plugins import Registry

    registry = registry if registry is not None else Registry.discover()
    uri = os.fspath(location)
    spec = registry.store_for(uri) if store == "auto" else registry.get("store", store)
    if isinstance(options, Mapping) and spec.options_type is not None:
        options = structure(unstructure(options), spec.options_type, "$.checkpoint.options")
    elif options is not None and spec.options_type is None:
        raise CheckpointError(f"store {spec.name!r} takes no options")
    return spec.create(options, uri=uri)


def location(store: Any, name: str) -> str:
    """``URI/name``: how messages name a checkpoint."""
    return f"{str(store.uri).rstrip('/')}/{name}"


def split_location(path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(parent location, checkpoint name)`` of a checkpoint's path or URI."""
    text = os.fspath(path).rstrip("/" + os.sep)
    cut = max(text.rfind("/"), text.rfind(os.sep))
    if cut < 0:
        return ".", text
    parent = text[:cut]
    return (parent if not parent.endswith(":/") else parent + "/"), text[cut + 1 :]


@attrs.frozen(kw_only=True)
class Scan:
    """What a store holds: complete checkpoints, ones whose metadata is damaged, and prefixes
    an interrupted save left without metadata."""

    records: tuple[CheckpointRecord, ...] = ()
    damaged: Mapping[str, str] = attrs.field(factory=dict)
    """Checkpoint name -> why its meta.json cannot be read."""
    incomplete: tuple[str, ...] = ()


def scan(store: Any) -> Scan:
    """Every checkpoint in ``store`` (keys that are not checkpoints are ignored)."""
    keys: dict[str, list[str]] = {}
    for key in store.list():
        name, sep, rest = key.partition("/")
        if sep and step_of_name(name) is not None:
            keys.setdefault(name, []).append(rest)
    records, damaged, incomplete = [], {}, []
    for name in sorted(keys):
        if META_FILE not in keys[name]:
            incomplete.append(name)
            continue
        try:
            records.append(read_record(store, name))
        except CheckpointError as exc:
            damaged[name] = str(exc)
    records.sort(key=lambda r: (r.step, r.created, r.name))
    return Scan(records=tuple(records), damaged=damaged, incomplete=tuple(incomplete))


def read_meta(store: Any, name: str) -> tuple[dict[str, Any], int]:
    """The checked metadata of checkpoint ``name`` and its size in bytes."""
    where = location(store, name)
    try:
        data = store.read_bytes(f"{name}/{META_FILE}")
    except AutovoiceError as exc:
        if not store.exists(f"{name}/{META_FILE}"):
            raise NoCheckpointError(f"no complete checkpoint at {where}") from exc
        raise CheckpointCorruptError(f"{where}/{META_FILE} cannot be read: {exc}") from exc
    return parse_meta(data, f"{where}/{META_FILE}"), len(data)


def read_record(store: Any, name: str) -> CheckpointRecord:
    meta, size = read_meta(store, name)
    if meta.get("name") != name:
        raise CheckpointCorruptError(
            f"{location(store, name)}/{META_FILE} describes checkpoint {meta.get('name')!r}"
        )
    return record_of(meta, size)


def read_file(store: Any, name: str, filename: str, meta: Mapping[str, Any]) -> bytes:
    """The content of ``filename`` in checkpoint ``name``, verified against ``meta``."""
    where = location(store, name)
    try:
        data = store.read_bytes(f"{name}/{filename}")
    except (AutovoiceError, OSError) as exc:
        raise CheckpointCorruptError(f"{where}/{filename} cannot be read: {exc}") from exc
    verify_file(meta, filename, data, where)
    return bytes(data)


def verify(store: Any, name: str) -> list[str]:
    """Every problem of checkpoint ``name`` (empty when it is intact); reads all its files."""
    try:
        meta, _size = read_meta(store, name)
    except CheckpointError as exc:
        return [str(exc)]
    problems = []
    for filename in sorted(meta["files"]):
        try:
            read_file(store, name, filename, meta)
        except CheckpointError as exc:
            problems.append(str(exc))
    return problems


def check_sizes(store: Any, name: str) -> list[str]:
    """The problems of checkpoint ``name`` found without reading its files: a file that
    meta.json lists and the store lacks, or (for stores that can tell a key's size, as the local
    and fsspec stores can) one whose size is not the one saved. Empty when none is found."""
    try:
        meta, _size = read_meta(store, name)
    except CheckpointError as exc:
        return [str(exc)]
    where = location(store, name)
    size_of = getattr(store, "size", None)
    problems = []
    for filename, entry in sorted(meta["files"].items()):
        key = f"{name}/{filename}"
        if not store.exists(key):
            problems.append(f"{where}/{filename} is missing")
            continue
        if size_of is None or not isinstance(entry, dict):
            continue
        try:
            actual = size_of(key)
        except AutovoiceError as exc:
            problems.append(f"{where}/{filename} cannot be read: {exc}")
            continue
        if actual != entry.get("size"):
            problems.append(
                f"{where}/{filename} is truncated or extended: {actual} bytes, meta.json says "
                f"{entry.get('size')}"
            )
    return problems


def delete_checkpoint(store: Any, name: str) -> None:
    """Remove checkpoint ``name``: its metadata first, so a crash midway leaves an incomplete
    prefix (removed by :func:`recover`) and never a complete-looking damaged checkpoint."""
    store.delete(f"{name}/{META_FILE}")
    for key in store.list(f"{name}/"):
        store.delete(key)


def recover(store: Any) -> list[str]:
    """Remove what interrupted saves left: temporaries and checkpoints without metadata.
    Returns what was removed, for the log. Call it only where no save is in progress."""
    removed = [f"temporary of {key}" for key in store.cleanup_temporaries()]
    for name in scan(store).incomplete:
        for key in store.list(f"{name}/"):
            store.delete(key)
        removed.append(f"incomplete checkpoint {name}")
    return removed


def same_place(parent: str, store: Any) -> bool:
    """Whether the location ``parent`` is the root of ``store``."""
    if parent.rstrip("/") == str(store.uri).rstrip("/"):
        return True
    root = getattr(store, "root", None)
    if "://" in parent or not isinstance(root, os.PathLike):
        return False
    return bool(os.path.realpath(parent) == os.path.realpath(root))


def locate(path: str | os.PathLike[str], store: Any, registry: Any = None) -> tuple[Any, str]:
    """``(store, name)`` of a checkpoint name in ``store`` or of a checkpoint's path/URI
    (opening the store of its parent when that is not ``store``)."""
    text = os.fspath(path)
    if "/" not in text and os.sep not in text:
        return store, text
    parent, name = split_location(text)
    if same_place(parent, store):
        return store, name
    return open_store(parent, registry=registry), name


def write_checkpoint(store: Any, name: str, files: Mapping[str, bytes]) -> None:
    """Write the files of checkpoint ``name`` in order (its metadata must come last). A
    checkpoint of the same name is replaced; when a write fails, what was written is removed."""
    if store.list(f"{name}/"):
        delete_checkpoint(store, name)
    for filename, data in files.items():
        try:
            store.write_bytes(f"{name}/{filename}", data)
        except (AutovoiceError, OSError) as exc:
            with contextlib.suppress(AutovoiceError, OSError):
                delete_checkpoint(store, name)
            raise CheckpointWriteError(
                f"cannot save checkpoint {location(store, name)}: writing {filename} failed: "
                f"{exc}. The checkpoints saved before it are untouched."
            ) from exc
