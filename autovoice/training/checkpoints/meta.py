"""``meta.json``: what a checkpoint holds, the checksums of its files, and where it came from.

The metadata carries its own checksum (``meta_sha256``, over the canonical JSON of the rest),
so an altered byte anywhere in a checkpoint is caught. No torch here: the command line reads
metadata without it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from autovoice._version import __version__
from autovoice.training.checkpoints.records import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointCorruptError,
    CheckpointError,
    CheckpointRecord,
)

SELF_CHECKSUM = "meta_sha256"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_state(cwd: str | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout around ``cwd``, or None."""
    try:
        commit = _git(["rev-parse", "HEAD"], cwd)
        changes = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(changes)}


def _git(args: list[str], cwd: str | None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def environment(versions: Mapping[str, str], git: dict[str, Any] | None) -> dict[str, Any]:
    """Where a checkpoint is written: platform, Python and library versions, git state."""
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "autovoice": __version__,
        **dict(versions),
        "git": git,
    }


def plain_config(config: Any) -> Any:
    """The configuration as JSON-able data: an attrs config is unstructured, a mapping copied."""
    if config is None:
        return None
    if attrs.has(type(config)):
        from autovoice.config import unstructure

        return unstructure(config)
    if isinstance(config, Mapping):
        return {str(key): value for key, value in config.items()}
    raise CheckpointError(
        f"save: config must be an autovoice Config, a mapping or None, got {type(config).__name__}"
    )


def plain_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Metrics as floats (plain numbers, numpy scalars and 0-d tensors are accepted)."""
    out = {}
    for key, value in (metrics or {}).items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"save: metric {key!r} must be a number, got {type(value).__name__}"
            ) from exc
    return out


def build_meta(
    *,
    name: str,
    step: int,
    epoch: int,
    metrics: Mapping[str, float],
    files: Mapping[str, bytes],
    contents: Mapping[str, Sequence[str]],
    config: Any = None,
    symbols: Any = None,
    environment: Mapping[str, Any] | None = None,
) -> bytes:
    """The bytes of ``meta.json`` for a checkpoint of ``files`` (name -> content)."""
    now = time.time()
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": name,
        "step": step,
        "epoch": epoch,
        "created": now,
        "created_utc": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
        "metrics": dict(metrics),
        "files": {key: {"sha256": sha256(data), "size": len(data)} for key, data in files.items()},
        "contents": {kind: list(names) for kind, names in contents.items()},
        "environment": dict(environment or {}),
        "config": config,
        "symbols": symbols,
    }
    try:
        meta[SELF_CHECKSUM] = sha256(_canonical(meta))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"save: config and symbols must be JSON data: {exc}") from exc
    return json.dumps(meta, indent=1, sort_keys=True).encode()


def _canonical(meta: Mapping[str, Any]) -> bytes:
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()


def parse_meta(data: bytes, where: str) -> dict[str, Any]:
    """The metadata in ``data``, checked against its own checksum; ``where`` names the file."""
    try:
        meta = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointCorruptError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointCorruptError(f"{where} is not autovoice checkpoint metadata")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{where}: checkpoint format version {meta.get('version')!r} is not supported "
            f"(this autovoice reads version {FORMAT_VERSION})"
        )
    expected = meta.pop(SELF_CHECKSUM, None)
    if expected != sha256(_canonical(meta)):
        raise CheckpointCorruptError(f"{where} was altered: its checksum does not match")
    _check_fields(meta, where)
    return meta


def _check_fields(meta: Mapping[str, Any], where: str) -> None:
    for field, kind in (("step", int), ("epoch", int), ("files", dict), ("metrics", dict)):
        if not isinstance(meta.get(field), kind):
            raise CheckpointCorruptError(f"{where}: field {field!r} is missing or malformed")


def record_of(meta: Mapping[str, Any], meta_size: int) -> CheckpointRecord:
    """The listing record of a checkpoint with metadata ``meta`` (``meta_size`` bytes)."""
    files = meta["files"].values()
    return CheckpointRecord(
        name=str(meta["name"]),
        step=int(meta["step"]),
        epoch=int(meta["epoch"]),
        metrics={k: float(v) for k, v in meta["metrics"].items()},
        size=meta_size + sum(int(entry.get("size", 0)) for entry in files),
        created=float(meta.get("created", 0.0)),
    )


def verify_file(meta: Mapping[str, Any], filename: str, data: bytes, where: str) -> None:
    """Raise :class:`CheckpointCorruptError` unless ``data`` is ``filename`` as saved."""
    entry = meta["files"].get(filename)
    if not isinstance(entry, dict):
        raise CheckpointCorruptError(f"{where}: meta.json lists no file {filename}")
    if len(data) != entry.get("size"):
        raise CheckpointCorruptError(
            f"{where}/{filename} is truncated or extended: {len(data)} bytes, "
            f"meta.json says {entry.get('size')}"
        )
    if sha256(data) != entry.get("sha256"):
        raise CheckpointCorruptError(
            f"{where}/{filename} was altered: its sha256 does not match meta.json"
        )
