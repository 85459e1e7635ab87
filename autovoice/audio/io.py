"""Reading and writing audio files: the I/O edge of the audio layer.

Everything here goes through soundfile (libsndfile): WAV, FLAC, OGG/Vorbis and the other formats
libsndfile supports. Every failure is an :class:`AudioFileError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

from autovoice.errors import AutovoiceError

__all__ = ["AudioFileError", "AudioInfo", "audio_info", "read_audio", "write_audio"]


class AudioFileError(AutovoiceError):
    """An audio file that is missing, empty, unreadable or holds unusable samples."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@attrs.frozen
class AudioInfo:
    """What an audio file's header says: rate (Hz), length in frames, channels, seconds."""

    path: str
    sample_rate: int
    frames: int
    channels: int
    duration: float


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioFileError(path, "not found")
    if not path.is_file():
        raise AudioFileError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioFileError(path, "empty file (0 bytes)")


def _reason(error: Exception) -> str:
    detail = getattr(error, "error_string", None)  # libsndfile's own words, without the path
    text = str(detail if detail else error).strip()
    return text.splitlines()[-1] if text else type(error).__name__


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read only the header of ``path``; raise AudioFileError when it is unusable."""
    file = Path(path)
    _check_file(file)
    try:
        info = sf.info(str(file))
    except (sf.SoundFileError, RuntimeError, OSError) as error:
        raise AudioFileError(file, f"unreadable audio: {_reason(error)}") from error
    if info.frames <= 0:
        raise AudioFileError(file, "no audio frames (0 samples)")
    return AudioInfo(
        path=str(file),
        sample_rate=int(info.samplerate),
        frames=int(info.frames),
        channels=int(info.channels),
        duration=float(info.frames) / float(info.samplerate),
    )


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Decode ``path`` to a float32 mono waveform in [-1, 1] (channels averaged) and its rate."""
    file = Path(path)
    _check_file(file)
    try:
        data, sample_rate = sf.read(str(file), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError) as error:
        raise AudioFileError(file, f"unreadable audio: {_reason(error)}") from error
    if data.shape[0] == 0:
        raise AudioFileError(file, "no audio frames (0 samples)")
    wave = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(wave).all():
        bad = int(np.count_nonzero(~np.isfinite(wave)))
        raise AudioFileError(file, f"{bad} samples are NaN or infinite")
    return np.ascontiguousarray(wave, dtype=np.float32), int(sample_rate)


def write_audio(
    path: str | os.PathLike[str],
    wave: np.ndarray,
    sample_rate: int,
    *,
    subtype: str = "PCM_16",
) -> None:
    """Write ``wave`` (samples,) or (samples, channels), clipped to [-1, 1].

    The format follows the extension (``.wav``: WAV, ``.flac``: FLAC); parent folders are
    created. ``subtype`` is a libsndfile subtype: PCM_16 (default), PCM_24, FLOAT, ….
    """
    file = Path(path)
    samples = np.asarray(wave, dtype=np.float32)
    if samples.ndim not in (1, 2) or samples.shape[0] == 0:
        raise AudioFileError(file, f"cannot write a waveform of shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise AudioFileError(file, "cannot write NaN or infinite samples")
    if sample_rate <= 0:
        raise AudioFileError(file, f"sample rate must be > 0, got {sample_rate}")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(file), np.clip(samples, -1.0, 1.0), int(sample_rate), subtype=subtype)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as error:
        raise AudioFileError(file, f"cannot write audio: {_reason(error)}") from error
