"""The ``manifest.json`` of a voice bundle: what the exporter writes (torch-free).

The format is described in ``docs/export.md`` and read by :mod:`autovoice.bundle`.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autovoice._version import __version__
from autovoice.bundle import FORMAT, FORMAT_VERSION, MANIFEST, file_table
from autovoice.config import AudioConfig, ExportConfig, TextConfig, unstructure
from autovoice.export.errors import ExportError

#: the audio settings a mel depends on: the acoustic model and the vocoder must agree on them
MEL_SETTINGS = ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "f_min", "f_max")


def check_audio_match(acoustic: AudioConfig, vocoder: AudioConfig, where: str) -> None:
    """Refuse a vocoder trained on other mels than the acoustic model makes."""
    different = [
        f"$.audio.{name} {getattr(acoustic, name)} vs {getattr(vocoder, name)}"
        for name in (*MEL_SETTINGS, "log_clamp")
        if getattr(acoustic, name) != getattr(vocoder, name)
    ]
    if different:
        raise ExportError(
            f"{where}: the acoustic model and the vocoder were trained on different mels "
            f"(acoustic vs vocoder): {', '.join(different)}"
        )


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
