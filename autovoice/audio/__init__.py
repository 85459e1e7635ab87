"""Audio: file I/O at the edge, pure waveform processing and the log-mel feature reference.

Importing this package never imports torch; the torch twin of the features lives in
``autovoice.training.features``.
"""

from __future__ import annotations

from autovoice.audio.features import (
    WaveTooShortError,
    hann_window,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_params,
    mel_to_hz,
    min_samples,
    num_frames,
    stft_magnitude,
    stft_padding,
)
from autovoice.audio.io import AudioFileError, AudioInfo, audio_info, read_audio, write_audio
from autovoice.audio.pitch import estimate_pitch, pitch_stats
from autovoice.audio.process import (
    AudioValueError,
    loudness_normalize,
    peak_normalize,
    prepare_waveform,
    resample,
    rms_dbfs,
    to_mono,
    trim_silence,
)

__all__ = [
    "AudioFileError",
    "AudioInfo",
    "AudioValueError",
    "WaveTooShortError",
    "audio_info",
    "estimate_pitch",
    "hann_window",
    "hz_to_mel",
    "log_mel",
    "loudness_normalize",
    "mel_filterbank",
    "mel_params",
    "mel_to_hz",
    "min_samples",
    "num_frames",
    "peak_normalize",
    "pitch_stats",
    "prepare_waveform",
    "read_audio",
    "resample",
    "rms_dbfs",
    "stft_magnitude",
    "stft_padding",
    "to_mono",
    "trim_silence",
    "write_audio",
]
