"""Reading and writing audio files: the I/O edge of the audio layer.

Everything here goes through soundfile (libsndfile). Reading takes every format libsndfile
reads; writing picks the format from the file's extension (:data:`WRITE_FORMATS`: ``.wav``,
``.flac``, ``.ogg`` (Vorbis), ``.mp3`` where the installed libsndfile has MPEG support, ``.raw``
headerless 16-bit little-endian PCM). Every failure is an :class:`AudioFileError` naming the file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import attrs
import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

from autovoice.errors import AutovoiceError

__all__ = [
    "WRITE_FORMATS",
    "AudioFileError",
    "AudioInfo",
    "audio_info",
    "encode_audio",
    "output_format",
    "read_audio",
    "writable_extensions",
    "write_audio",
]

WRITE_FORMATS: dict[str, tuple[str, str, str]] = {
    ".wav": ("WAV", "PCM_16", "FILE"),
    ".flac": ("FLAC", "PCM_16", "FILE"),
    ".ogg": ("OGG", "VORBIS", "FILE"),
    ".mp3": ("MP3", "MPEG_LAYER_III", "FILE"),
    ".raw": ("RAW", "PCM_16", "LITTLE"),
}
"""Extension -> the libsndfile format, default subtype and byte order written for it."""


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


def writable_extensions() -> tuple[str, ...]:
    """The extensions of :data:`WRITE_FORMATS` that the installed libsndfile can write (MP3 needs
    libsndfile 1.1 or later built with LAME and mpg123)."""
    formats = sf.available_formats()
    return tuple(
        ext
        for ext, (kind, subtype, _endian) in WRITE_FORMATS.items()
        if kind in formats and subtype in sf.available_subtypes(kind)
    )


def output_format(path: str | os.PathLike[str]) -> tuple[str, str, str]:
    """The format, subtype and byte order ``path`` is written in, chosen by its extension; an
    :class:`AudioFileError` naming the extensions this installation writes for any other."""
    ext = Path(path).suffix.lower()
    usable = writable_extensions()
    if ext not in usable:
        what = f"{ext!r} files" if ext else "a file without an extension"
        extra = "" if ext not in WRITE_FORMATS else " (this libsndfile build lacks it)"
        raise AudioFileError(
            path, f"cannot write {what}{extra}; audio formats by extension: {', '.join(usable)}"
        )
    return WRITE_FORMATS[ext]


def _samples(target: str | os.PathLike[str], wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """``wave`` as float32 clipped to [-1, 1], or an :class:`AudioFileError` naming ``target``."""
    samples = np.asarray(wave, dtype=np.float32)
    if samples.ndim not in (1, 2) or samples.shape[0] == 0:
        raise AudioFileError(target, f"cannot write a waveform of shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise AudioFileError(target, "cannot write NaN or infinite samples")
    if sample_rate <= 0:
        raise AudioFileError(target, f"sample rate must be > 0, got {sample_rate}")
    return np.clip(samples, -1.0, 1.0)


def write_audio(
    path: str | os.PathLike[str],
    wave: np.ndarray,
    sample_rate: int,
    *,
    subtype: str | None = None,
) -> None:
    """Write ``wave`` (samples,) or (samples, channels), clipped to [-1, 1].

    The format follows the extension (:func:`output_format`); parent folders are created.
    ``subtype`` is a libsndfile subtype (PCM_16, PCM_24, FLOAT, …); by default the format's own
    from :data:`WRITE_FORMATS` (PCM_16, or the codec of ``.ogg`` and ``.mp3``).
    """
    file = Path(path)
    kind, default, endian = output_format(file)
    samples = _samples(file, wave, sample_rate)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        sf.write(
            str(file), samples, int(sample_rate),
            format=kind, subtype=subtype or default, endian=endian,
        )  # fmt: skip
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, TypeError) as error:
        raise AudioFileError(file, f"cannot write audio: {_reason(error)}") from error


def encode_audio(wave: np.ndarray, sample_rate: int, extension: str = ".wav") -> bytes:
    """``wave`` encoded in memory as a file of ``extension`` would hold it (``.wav``: a WAV file,
    ``.raw``: 16-bit little-endian PCM without a header), for writing to a pipe."""
    target = f"<{extension.lstrip('.')} stream>"
    kind, subtype, endian = output_format(f"stream{extension}")
    samples = _samples(target, wave, sample_rate)
    buffer = io.BytesIO()
    try:
        sf.write(buffer, samples, int(sample_rate), format=kind, subtype=subtype, endian=endian)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, TypeError) as error:
        raise AudioFileError(target, f"cannot encode audio: {_reason(error)}") from error
    return buffer.getvalue()
