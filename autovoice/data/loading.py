"""Features of an utterance: its prepared waveform and log-mel, through the cache when there is one.

The waveform is the file decoded, made mono, resampled to ``audio.sample_rate``, trimmed and
normalized (:func:`autovoice.audio.process.prepare_waveform`); the log-mel is the reference
:func:`autovoice.audio.features.log_mel` of that waveform. With a cache, log-mels are
cached always and waveforms only when they had to be resampled (decoding is cheap, resampling
is not, and caching every waveform would double the corpus on disk).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from autovoice.audio.features import log_mel
from autovoice.audio.io import AudioFileError, read_audio
from autovoice.audio.pitch import estimate_pitch
from autovoice.audio.process import prepare_waveform
from autovoice.config.schema import AudioConfig
from autovoice.data.cache import FeatureCache
from autovoice.data.records import CorpusError, Utterance
from autovoice.errors import AutovoiceError


class FeatureSource:
    """Prepared waveforms and log-mels of utterances for one ``[audio]`` section."""

    def __init__(self, audio: AudioConfig, cache: FeatureCache | None = None) -> None:
        self.audio = audio
        self.cache = cache

    @classmethod
    def create(cls, audio: AudioConfig, cache_dir: str | os.PathLike[str] = "") -> FeatureSource:
        """A source caching under ``cache_dir``; empty for no cache."""
        return cls(audio, FeatureCache(cache_dir, audio) if cache_dir else None)

    def _decode(self, utt: Utterance) -> np.ndarray:
        try:
            wave, rate = read_audio(utt.audio_path)
        except AudioFileError as exc:  # changed since the corpus was checked
            raise CorpusError(f"{utt.where} ({utt.audio_path}): {exc.problem}") from None
        return prepare_waveform(wave, rate, self.audio)

    def wave(self, utt: Utterance) -> np.ndarray:
        """The prepared waveform, float32 in [-1, 1] at ``audio.sample_rate``; a CorpusError
        naming the corpus line when the file can no longer be decoded."""
        if self.cache is None or utt.sample_rate == self.audio.sample_rate:
            return self._decode(utt)
        return self.cache.get(utt.audio_path, "wave", lambda: self._decode(utt))

    def mel_of(self, wave: np.ndarray) -> np.ndarray:
        """The log-mel ``(n_mels, frames)`` of a prepared waveform (never cached)."""
        return log_mel(wave, self.audio)

    def mel(self, utt: Utterance) -> np.ndarray:
        """The log-mel ``(n_mels, frames)`` of the utterance, cached when there is a cache."""
        if self.cache is None:
            return self.mel_of(self.wave(utt))
        return self.cache.get(utt.audio_path, "mel", lambda: self.mel_of(self.wave(utt)))

    def pitch_of(self, wave: np.ndarray, n_frames: int) -> np.ndarray:
        """f0 in Hz per mel frame (0 where unvoiced) of a prepared waveform (never cached)."""
        audio = self.audio
        return estimate_pitch(
            wave,
            sample_rate=audio.sample_rate,
            hop_length=audio.hop_length,
            n_frames=n_frames,
            frame_length=audio.n_fft,
        )

    def pitch(self, utt: Utterance, n_frames: int) -> np.ndarray:
        """f0 per mel frame of the utterance, cached when there is a cache."""

        def compute() -> np.ndarray:
            return self.pitch_of(self.wave(utt), n_frames)

        if self.cache is None:
            return compute()
        cached = self.cache.get(utt.audio_path, "pitch", compute)
        return cached if cached.shape[-1] == n_frames else compute()

    def expected_frames(self, utt: Utterance) -> int:
        """Mel frames estimated from the header (before trimming), for length bucketing."""
        samples = round(utt.duration * self.audio.sample_rate)
        return max(1, samples // self.audio.hop_length)


def fill_cache(
    source: FeatureSource, utterances: Iterable[Utterance]
) -> Iterator[tuple[Utterance, str]]:
    """Compute and store the features of every utterance (log-mel and f0); yields each with
    ``"cached"`` (already there), ``"computed"`` or the error that stopped it (the audio named,
    never raised)."""
    if source.cache is None:
        raise CorpusError("data.cache_dir is empty: set it to the folder the cache should fill")
    for utt in utterances:
        cache = source.cache
        if all(cache.path_for(utt.audio_path, kind).is_file() for kind in ("mel", "pitch")):
            yield utt, "cached"
            continue
        try:
            source.pitch(utt, source.mel(utt).shape[1])
        except AutovoiceError as exc:
            message = str(exc)
            yield utt, message if message.startswith(utt.where) else f"{utt.where}: {message}"
            continue
        yield utt, "computed"
