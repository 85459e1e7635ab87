"""Writing a voice bundle's manifest: what the exporter records (torch-free); read back by
:mod:`autovoice.bundle.reader`. The format is described in ``docs/export.md``."""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autovoice._version import __version__
from autovoice.bundle.files import file_table
from autovoice.bundle.records import FORMAT, FORMAT_VERSION, MANIFEST
from autovoice.config import AudioConfig, ExportConfig, TextConfig, unstructure
from autovoice.heads import BoundHead


def head_fields(head: BoundHead) -> dict[str, Any]:
    """The ``head`` and ``head_options`` fields of a vocoder stage's manifest entry."""
    return {"head": head.head.name, "head_options": head.table}


def graphless_vocoder_entry(head: BoundHead) -> dict[str, Any]:
    """The manifest entry of a vocoder stage that is its head alone (no graph, no files)."""
    return {"plugin": head.head.plugin, "options": {}, **head_fields(head)}


def _version(*distributions: str) -> str | None:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def tool_versions() -> dict[str, str | None]:
    """Versions of the tools that make a bundle."""
    return {
        "autovoice": __version__,
        "torch": _version("torch"),
        "onnx": _version("onnx"),
        "onnxruntime": _version("onnxruntime", "onnxruntime-gpu"),
        "python": platform.python_version(),
    }


def build_manifest(
    *,
    root: Path,
    name: str,
    audio: AudioConfig,
    text: TextConfig,
    symbols: Mapping[str, Any],
    speakers: Sequence[str],
    stages: Mapping[str, Mapping[str, Any]],
    settings: ExportConfig,
    engines: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The manifest of the bundle being written in ``root`` (every file there is listed)."""
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "audio": unstructure(audio),
        "text": unstructure(text),
        "symbols": dict(symbols),
        "speakers": list(speakers),
        **{stage: dict(entry) for stage, entry in stages.items()},
        "engines": [dict(e) for e in engines],
        "limits": {"max_tokens": settings.tokens_max, "max_frames": settings.frames_max},
        "files": file_table(root, (f for f in files if f != MANIFEST)),
        "tools": tool_versions(),
    }


def write_manifest(root: Path, manifest: Mapping[str, Any]) -> Path:
    path = root / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
