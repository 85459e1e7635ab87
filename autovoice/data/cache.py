"""The on-disk feature cache: computed arrays (log-mels, prepared waveforms) per audio file.

An entry's key is the file's absolute path, size and modification time, plus a hash of every
audio setting that shapes the features (all of :func:`mel_params`, trimming, normalization and
the cache format), so that changing any of them, or the file, never reads stale features.
Entries are written to a temporary file in the same folder and moved into place with
:func:`os.replace`: a reader sees a complete entry or none, even with several worker processes
filling the cache at once. A damaged entry reads as missing and is computed again.

Layout: ``<root>/<settings hash>/<key[:2]>/<key>.<name>.npy`` plus ``settings.json`` describing
the settings of each hash folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autovoice.audio.features import mel_params
from autovoice.config.schema import AudioConfig

FORMAT_VERSION = 1


def settings_of(audio: AudioConfig) -> dict[str, Any]:
    """Everything in ``audio`` that changes a cached array, with the cache format version."""
    return {
        **mel_params(audio),
        "trim_silence_db": float(audio.trim_silence_db),
        "normalize": audio.normalize,
        "format": FORMAT_VERSION,
    }


def settings_hash(audio: AudioConfig) -> str:
    text = json.dumps(settings_of(audio), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_key(path: str | os.PathLike[str]) -> str:
    """A key that changes whenever the file at ``path`` moves, grows or is rewritten."""
    where = Path(path).resolve()
    stat = where.stat()
    text = f"{where}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _atomic_save(target: Path, array: np.ndarray) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FeatureCache:
    """Arrays computed from audio files, on disk under ``root``, for the settings of ``audio``."""

    def __init__(self, root: str | os.PathLike[str], audio: AudioConfig) -> None:
        self.root = Path(root)
        self.settings = settings_of(audio)
        self.folder = self.root / settings_hash(audio)

    def path_for(self, audio_path: str | os.PathLike[str], name: str) -> Path:
        key = file_key(audio_path)
        return self.folder / key[:2] / f"{key}.{name}.npy"

    def load(self, audio_path: str | os.PathLike[str], name: str) -> np.ndarray | None:
        """The cached array, or None when absent or unreadable."""
        try:
            array: np.ndarray = np.load(self.path_for(audio_path, name), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        return array

    def store(self, audio_path: str | os.PathLike[str], name: str, array: np.ndarray) -> None:
        self._describe()
        _atomic_save(self.path_for(audio_path, name), array)

    def get(
        self, audio_path: str | os.PathLike[str], name: str, compute: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """The cached array, computing and storing it when missing."""
        found = self.load(audio_path, name)
        if found is not None:
            return found
        array = compute()
        self.store(audio_path, name, array)
        return array

    def _describe(self) -> None:
        info = self.folder / "settings.json"
        if info.exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".settings.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.settings, fh, indent=2, sort_keys=True)
        os.replace(tmp, info)
