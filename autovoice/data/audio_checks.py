"""What makes a decodable recording unusable for training: pure judgements of an
:class:`~autovoice.audio.io.AudioScan` (the whole file decoded once) and the corpus limits.

A header alone cannot show NaN or infinite samples, digital silence, or a WAV cut short (libsndfile
then reads the frames that are left, as a shorter clip that no longer matches its transcript);
decoding can. Each rule gives a reason of :data:`autovoice.data.records.REASONS` and a detail.
"""

from __future__ import annotations

import math
from pathlib import PurePath

from autovoice.audio.io import AudioScan
from autovoice.config.schema import DataConfig
from autovoice.data.records import (
    MISNAMED_FORMAT,
    NON_FINITE_AUDIO,
    SILENT_AUDIO,
    TOO_LONG,
    TOO_SHORT,
    TRUNCATED_AUDIO,
)

SILENT_PEAK_DBFS = -60.0
"""A recording whose loudest sample is below this holds no speech (16-bit dither is ~-90)."""

SUFFIX_FORMATS: dict[str, tuple[str, ...]] = {
    ".wav": ("WAV", "WAVEX", "RF64"),
    ".flac": ("FLAC",),
    ".ogg": ("OGG",),
}
"""The libsndfile formats a file of each corpus audio suffix may hold; other suffixes any."""


def _dbfs(peak: float) -> str:
    return "-inf dBFS" if peak <= 0 else f"{20 * math.log10(peak):.1f} dBFS"


def _truncation(scan: AudioScan) -> str | None:
    info = scan.info
    if scan.missing_bytes > 0:
        return (
            f"the header declares {scan.missing_bytes} bytes of audio more than the file holds "
            f"(it ends after {info.duration:.2f} s): cut short"
        )
    if scan.decoded_frames < info.frames:
        return (
            f"the header declares {info.frames} frames, only {scan.decoded_frames} decode: "
            "cut short"
        )
    return None


def _misnamed(scan: AudioScan, path: str) -> str | None:
    suffix = PurePath(path).suffix.lower()
    allowed = SUFFIX_FORMATS.get(suffix)
    if allowed is None or scan.format in allowed:
        return None
    return f"{scan.format} data in a file named {suffix}: rename it or convert it"


def audio_fault(scan: AudioScan, path: str, data: DataConfig) -> tuple[str, str] | None:
    """``(reason, detail)`` of the first rule ``scan`` of the file ``path`` breaks, or None."""
    if scan.non_finite:
        return NON_FINITE_AUDIO, f"{scan.non_finite} samples are NaN or infinite"
    truncated = _truncation(scan)
    if truncated:
        return TRUNCATED_AUDIO, truncated
    misnamed = _misnamed(scan, path)
    if misnamed:
        return MISNAMED_FORMAT, misnamed
    if scan.peak <= 10 ** (SILENT_PEAK_DBFS / 20):
        return SILENT_AUDIO, f"peak {_dbfs(scan.peak)}, below {SILENT_PEAK_DBFS:g} dBFS"
    seconds = scan.decoded_frames / scan.info.sample_rate
    if seconds < data.min_duration or seconds > data.max_duration:
        limits = f"limits {data.min_duration:g}-{data.max_duration:g} s"
        reason = TOO_SHORT if seconds < data.min_duration else TOO_LONG
        return reason, f"{seconds:.2f} s, outside the {limits}"
    return None
