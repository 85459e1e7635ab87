"""Voice conversion around the stages: the recording checked and turned into the source mel,
then converter and vocoder run on it (numpy only; the stages run on their backends).

Every refusal is an :class:`InferenceError` naming the argument: audio that is not a waveform,
not finite, silent, clipped, too short or longer than the voice converts at once.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from autovoice.audio.features import log_mel, min_samples
from autovoice.audio.process import prepare_waveform, rms_dbfs, to_mono
from autovoice.config.schema import AudioConfig
from autovoice.inference.batching import TAIL_FRAMES, cut_waves, pad_mels
from autovoice.inference.checks import InferenceError

__all__ = [
    "CLIP_FRACTION",
    "CLIP_LEVEL",
    "SILENCE_DBFS",
    "checked_wave",
    "convert_mel",
    "source_mel",
]

CLIP_LEVEL = 0.999
"""A sample at or beyond this magnitude (full scale is 1) counts as clipped."""
CLIP_FRACTION = 0.001
"""Audio with more than this fraction of clipped samples is refused."""
SILENCE_DBFS = -60.0
"""Audio whose RMS level is below this (dB relative to full scale) is refused as silent."""


def _as_float(audio: Any, where: str) -> npt.NDArray[np.float32]:
    """``audio`` as float samples; integer PCM is scaled to full scale 1."""
    if not isinstance(audio, np.ndarray):
        raise InferenceError(
            f"{where}: expected a numpy array of samples, got {type(audio).__name__}"
        )
    if audio.dtype.kind == "i":
        return (audio / float(2 ** (8 * audio.dtype.itemsize - 1))).astype(np.float32)
    if audio.dtype.kind != "f":
        raise InferenceError(f"{where}: expected float or integer samples, got {audio.dtype}")
    return audio.astype(np.float32, copy=False)


def checked_wave(audio: Any, sample_rate: Any, where: str = "audio") -> npt.NDArray[np.float32]:
    """``audio`` ``(samples,)`` or ``(samples, channels)`` as a mono float32 waveform, refused
    when it is empty, not finite, silent or clipped; ``sample_rate`` must be a positive int."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise InferenceError(f"sample_rate must be an integer (Hz), got {sample_rate!r}")
    if sample_rate <= 0:
        raise InferenceError(f"sample_rate must be > 0, got {sample_rate}")
    wave = _as_float(audio, where)
    if wave.ndim not in (1, 2) or wave.size == 0:
        raise InferenceError(
            f"{where}: expected (samples,) or (samples, channels) samples, got shape {wave.shape}"
        )
    if not np.isfinite(wave).all():
        raise InferenceError(f"{where}: holds NaN or infinite samples")
    mono = to_mono(wave)
    level = rms_dbfs(mono)
    if level < SILENCE_DBFS:
        raise InferenceError(
            f"{where}: silent (RMS level {level:.0f} dBFS, below {SILENCE_DBFS:.0f} dBFS)"
        )
    clipped = float(np.mean(np.abs(wave) >= CLIP_LEVEL))
    if clipped > CLIP_FRACTION:
        raise InferenceError(
            f"{where}: clipped ({clipped:.1%} of samples at full scale); record it again at a "
            "lower level"
        )
    return mono


def source_mel(
    audio: Any, sample_rate: Any, settings: AudioConfig, *, max_frames: int, where: str = "audio"
) -> npt.NDArray[np.float32]:
    """The log-mel ``(n_mels, frames)`` of a recording at ``sample_rate`` Hz, prepared as the
    voice's training audio was (mono, resampled to ``settings.sample_rate``, trimmed and
    normalized as ``settings`` say); refused when longer than ``max_frames`` frames allow
    (``max_frames <= 0``: no limit) or too short for one frame."""
    wave = checked_wave(audio, sample_rate, where)
    seconds = wave.size / int(sample_rate)
    limit = max_frames * settings.hop_length / settings.sample_rate
    if max_frames > 0 and seconds > limit:
        raise InferenceError(
            f"{where}: {seconds:.1f} s long, more than this voice converts at once "
            f"({limit:.1f} s, {max_frames} frames); cut it into shorter pieces"
        )
    prepared = prepare_waveform(wave, int(sample_rate), settings)
    if prepared.size < min_samples(settings.n_fft, settings.hop_length):
        raise InferenceError(f"{where}: too short ({seconds * 1000:.0f} ms) to convert")
    mel = log_mel(prepared, settings)
    return mel[:, :max_frames] if max_frames > 0 else mel


def convert_mel(
    converter: Any,
    vocoder: Any,
    mel: npt.NDArray[np.float32],
    speaker: int,
    *,
    silence: float,
    hop_length: int,
) -> tuple[npt.NDArray[np.float32], tuple[float, float]]:
    """The waveform of ``mel`` converted to ``speaker`` by the ``converter`` stage and voiced by
    the ``vocoder`` stage (a :class:`~autovoice.inference.StageRunner` each), and the seconds
    each stage took."""
    lengths = np.array([mel.shape[1]], np.int64)
    inputs = {
        "mel": np.ascontiguousarray(mel[None], np.float32),
        "mel_lengths": lengths,
        "speakers": np.array([speaker], np.int64),
    }
    started = time.perf_counter()
    converted = converter.run(inputs)["converted"]
    middle = time.perf_counter()
    padded = pad_mels(converted, lengths, pad_value=silence, tail=TAIL_FRAMES)
    audio = vocoder.run({"mel": padded})["audio"]
    ended = time.perf_counter()
    return cut_waves(audio, lengths * hop_length)[0], (middle - started, ended - middle)
