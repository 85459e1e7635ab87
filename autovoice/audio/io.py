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
    "AudioScan",
    "audio_info",
    "encode_audio",
    "output_format",
    "read_audio",
    "scan_audio",
    "wav_missing_bytes",
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


_RIFF_MAGIC = {b"RIFF": "<", b"RIFX": ">", b"RF64": "<", b"BW64": "<"}
_UNKNOWN_LENGTH = (0, 0xFFFFFFFF)  # what a writer that could not seek back leaves
_MAX_CHUNKS = 1000


def _data_chunk(file: io.BufferedReader, order: str) -> tuple[int, int] | None:
    """``(declared size, offset)`` of the ``data`` chunk of a RIFF file positioned after its
    12-byte header; an RF64 file's real size from its ``ds64`` chunk; None when there is none."""
    wide = None
    for _ in range(_MAX_CHUNKS):
        head = file.read(8)
        if len(head) < 8:
            return None
        name, size = head[:4], int.from_bytes(head[4:], "little" if order == "<" else "big")
        if name == b"ds64" and size >= 16:
            wide = int.from_bytes(file.read(16)[8:], "little")
            file.seek(size - 16, os.SEEK_CUR)
        elif name == b"data":
            return (wide if wide is not None and size == 0xFFFFFFFF else size), file.tell()
        else:
            file.seek(size + (size & 1), os.SEEK_CUR)
    return None


def wav_missing_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes of audio data that a WAV (RIFF, RIFX, RF64) file's header declares and the file
    lacks: > 0 for a file cut short. 0 for a whole file, for a length the writer left open
    (0 or 0xFFFFFFFF: a stream) and for anything that is not a RIFF file.

    libsndfile reads a cut WAV as a shorter clip without an error, and its API tells only the
    frames it will deliver; the declared size is in the ``data`` chunk header, read here.
    """
    with open(path, "rb") as file:
        head = file.read(12)
        order = _RIFF_MAGIC.get(head[:4])
        if order is None or head[8:12] != b"WAVE":
            return 0
        found = _data_chunk(file, order)
        size = os.fstat(file.fileno()).st_size
    if found is None or found[0] in _UNKNOWN_LENGTH:
        return 0
    declared, offset = found
    return max(0, declared - (size - offset))


@attrs.frozen
class AudioScan:
    """What decoding a whole file shows: its header, libsndfile's name of the format it found,
    the frames that decoded, how many samples are NaN or infinite, the peak of the finite ones,
    and the audio bytes a WAV header declares that the file lacks."""

    info: AudioInfo
    format: str
    decoded_frames: int
    non_finite: int
    peak: float
    missing_bytes: int


SCAN_BLOCK = 1 << 16


def scan_audio(path: str | os.PathLike[str]) -> AudioScan:
    """Decode all of ``path`` block by block (memory stays bounded); AudioFileError when the
    header or any block cannot be decoded."""
    info = audio_info(path)
    non_finite, peak, frames = 0, 0.0, 0
    try:
        with sf.SoundFile(str(path)) as file:
            kind = str(file.format)
            for block in file.blocks(SCAN_BLOCK, dtype="float32", always_2d=True):
                finite = np.isfinite(block)
                non_finite += int(block.size - np.count_nonzero(finite))
                if block.size:
                    peak = max(peak, float(np.max(np.abs(np.where(finite, block, 0.0)))))
                frames += block.shape[0]
    except (sf.SoundFileError, RuntimeError, OSError) as error:
        raise AudioFileError(path, f"unreadable audio: {_reason(error)}") from error
    missing = wav_missing_bytes(path)
    return AudioScan(info, kind, frames, non_finite, peak, missing)


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
