"""The audio formats the server answers in, and how each is encoded (through soundfile).

``wav`` and ``pcm`` stream: their bytes go out sentence by sentence as the audio is made. A
streamed WAV file cannot know its length when its header is sent, so its RIFF and data sizes
hold 0xFFFFFFFF ("unknown: read to the end"), as encoders writing to a pipe do; libsndfile,
ffmpeg, browsers and Python's ``wave`` read it to the end. ``pcm`` is raw 16-bit signed
little-endian mono at the voice's sample rate, no header. ``flac``, ``mp3`` and ``opus`` (Ogg
Opus, resampled to 48 kHz: Opus takes no 22.05 kHz) are encoded from the whole audio, where the
installed libsndfile writes them. Samples become 16-bit integers as libsndfile makes them, so
a response holds the bytes ``autovoice synthesize`` would write.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import soundfile as sf  # type: ignore[import-untyped]

from autovoice.audio.io import encode_audio
from autovoice.audio.process import resample

__all__ = ["FORMATS", "AudioFormat", "available_formats", "pcm16", "wav_header"]

OPUS_RATE = 48000
UNKNOWN_SIZE = 0xFFFFFFFF

Wave = npt.NDArray[np.float32]


@attrs.frozen(kw_only=True)
class AudioFormat:
    """One ``response_format``: its media type, whether it streams, and the libsndfile format
    and subtype it needs."""

    name: str
    media_type: str
    streams: bool
    soundfile: tuple[str, str]
    rate: int | None = None
    """The sample rate it is written at when it cannot be the voice's own."""

    def usable(self) -> bool:
        """Whether the installed libsndfile encodes it."""
        kind, subtype = self.soundfile
        return kind in sf.available_formats() and subtype in sf.available_subtypes(kind)

    def encode(self, wave: Wave, sample_rate: int) -> bytes:
        """``wave`` as one whole file (or stream) of this format."""
        if self.rate is None:
            return encode_audio(wave, sample_rate, f".{'raw' if self.name == 'pcm' else self.name}")
        kind, subtype = self.soundfile
        samples = np.clip(resample(wave, sample_rate, self.rate), -1.0, 1.0)
        buffer = io.BytesIO()
        sf.write(buffer, samples, self.rate, format=kind, subtype=subtype)
        return buffer.getvalue()


def _format(
    name: str, media: str, streams: bool, kind: str, subtype: str, **kw: Any
) -> AudioFormat:
    return AudioFormat(
        name=name, media_type=media, streams=streams, soundfile=(kind, subtype), **kw
    )


FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        _format("wav", "audio/wav", True, "WAV", "PCM_16"),
        _format("pcm", "audio/pcm", True, "RAW", "PCM_16"),
        _format("flac", "audio/flac", False, "FLAC", "PCM_16"),
        _format("mp3", "audio/mpeg", False, "MP3", "MPEG_LAYER_III"),
        _format("opus", "audio/ogg", False, "OGG", "OPUS", rate=OPUS_RATE),
    )
}
"""Every format the server knows, by its ``response_format`` name."""


def available_formats() -> tuple[str, ...]:
    """The names of the formats this installation encodes."""
    return tuple(name for name, f in FORMATS.items() if f.usable())


def pcm16(wave: Wave, sample_rate: int) -> bytes:
    """``wave`` as 16-bit signed little-endian samples (libsndfile's rounding); nothing for no
    samples."""
    return encode_audio(wave, sample_rate, ".raw") if len(wave) else b""


def wav_header(sample_rate: int) -> bytes:
    """The 44-byte header of a 16-bit mono PCM WAV stream of unknown length."""
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, 2 * sample_rate, 2, 16)
    size = struct.pack("<I", UNKNOWN_SIZE)
    return b"RIFF" + size + b"WAVEfmt " + fmt + b"data" + size
