"""Engine files on disk: checksums, atomic writes and cache lookups (the I/O edge of
:mod:`autovoice_tensorrt.cache`)."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from autovoice.errors import BackendError
from autovoice_tensorrt.cache import (
    EngineKey,
    EngineRecord,
    GpuIdentity,
    engine_paths,
    incompatibility,
    make_sidecar,
    parse_sidecar,
    sidecar_path,
)

CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
    except OSError as exc:
        raise BackendError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/autovoice/engines``, or ``~/.cache/autovoice/engines``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autovoice" / "engines"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_sidecar(plan: Path) -> EngineRecord | None:
    """The record beside an engine file, or None when it has none."""
    path = sidecar_path(plan)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackendError(f"{path}: cannot read the engine description: {exc}") from exc
    return parse_sidecar(data, str(path))


@attrs.frozen
class CachedEngine:
    """An engine's serialized bytes, where it lives, and its record."""

    data: bytes
    plan: Path
    record: EngineRecord


class EngineStore:
    """Engines of one directory, each as ``<key>.plan`` with a ``<key>.json`` sidecar."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def lookup(self, key: EngineKey) -> CachedEngine | None:
        """The engine stored under ``key``, or None; an engine whose bytes no longer match its
        sidecar is reported (a warning) and treated as missing."""
        paths = engine_paths(self.directory, key.digest)
        if not paths.plan.is_file():
            return None
        data = paths.plan.read_bytes()
        try:
            record = read_sidecar(paths.plan)
        except BackendError as exc:
            return _stale(str(exc))
        if record is None:
            return _stale(f"{paths.plan}: engine has no {paths.sidecar.name} beside it")
        if record.plan_sha256 != hashlib.sha256(data).hexdigest():
            return _stale(f"{paths.plan}: engine does not match its description")
        return CachedEngine(data, paths.plan, record)

    def save(self, key: EngineKey, data: bytes, *, stage: str | None = None) -> CachedEngine:
        """Store ``data`` under ``key`` (plan first, then its sidecar) and return it."""
        paths = engine_paths(self.directory, key.digest)
        write_atomic(paths.plan, data)
        sidecar = make_sidecar(
            key,
            plan_sha256=hashlib.sha256(data).hexdigest(),
            plan_size=len(data),
            plan_file=paths.plan.name,
            stage=stage,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        text = json.dumps(sidecar, indent=2, sort_keys=False) + "\n"
        write_atomic(paths.sidecar, text.encode("utf-8"))
        return CachedEngine(data, paths.plan, parse_sidecar(sidecar, str(paths.sidecar)))


def shipped_engine(
    engines: Iterable[Any], *, tensorrt: str, gpu: GpuIdentity, precision: str | None = None
) -> CachedEngine | None:
    """The first of a voice's engines (each with a ``file``: a bundle's ``EngineInfo``) built
    for this TensorRT version and GPU, in ``precision`` when one is asked for, whose plan still
    matches its sidecar; None when none is. An unreadable one is reported (a warning) and
    skipped."""
    for info in engines:
        plan = Path(getattr(info, "file", ""))
        if not plan.is_file():
            continue
        try:
            record = read_sidecar(plan)
        except BackendError as exc:
            _stale(str(exc))
            continue
        if record is None or incompatibility(record, tensorrt=tensorrt, gpu=gpu) is not None:
            continue
        if precision is not None and record.precision != precision:
            continue
        data = plan.read_bytes()
        if record.plan_sha256 != hashlib.sha256(data).hexdigest():
            _stale(f"{plan}: engine does not match its description")
            continue
        return CachedEngine(data, plan, record)
    return None


def _stale(why: str) -> CachedEngine | None:
    """Warn that a cached engine is unusable; None, so the caller builds a new one."""
    warnings.warn(f"{why}; ignoring it", RuntimeWarning, stacklevel=3)
    return None


def sidecar_dict(plan: Path) -> dict[str, Any]:
    """The raw sidecar JSON of an engine file (for a bundle manifest's ``engines`` entry)."""
    return dict(json.loads(sidecar_path(plan).read_text(encoding="utf-8")))


__all__ = [
    "CachedEngine",
    "EngineStore",
    "default_cache_dir",
    "file_sha256",
    "read_sidecar",
    "shipped_engine",
    "sidecar_dict",
    "write_atomic",
]
