"""The ``voice`` dataset: per utterance, text tokens, log-mel and speaker id, plus a random audio
segment with the mel frames that cover it (for vocoder training).

Item keys: ``id`` (str), ``tokens`` (T_text,) int64, ``mel`` (n_mels, T) float32, ``speaker``
int64, ``token_length`` and ``mel_length`` int64, ``pitch`` (T,) float32 f0 in Hz (0 where
unvoiced) unless the ``pitch`` option is off; with ``segment_size > 0`` also ``audio``
(segment_size,) float32 and ``audio_mel`` (n_mels, segment_size // hop_length) float32, where
frame ``k`` of ``audio_mel`` is frame ``offset + k`` of ``mel`` and ``audio`` starts at sample
``offset * hop_length``, and with ``pitch`` ``audio_pitch`` (segment_size // hop_length,) the f0
of the same frames. Utterances shorter than a segment are padded with silence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autovoice.config.schema import Config
from autovoice.data.augment import item_rng
from autovoice.data.dataset import DatasetInfo, Item, WaveTransform
from autovoice.data.records import CorpusError
from autovoice_datasets.common import CorpusData, EpochItems, check_segment, load_corpus_data
from autovoice_datasets.options import VoiceOptions


def _fit(array: np.ndarray, size: int, fill: float) -> np.ndarray:
    """``array`` cut or padded with ``fill`` to ``size`` on its last axis."""
    if array.shape[-1] >= size:
        return array[..., :size]
    pad = [(0, 0)] * (array.ndim - 1) + [(0, size - array.shape[-1])]
    return np.pad(array, pad, constant_values=fill)


def audio_segment(
    wave: np.ndarray,
    mel: np.ndarray,
    *,
    segment_size: int,
    hop_length: int,
    silence: float,
    rng: np.random.Generator,
    pitch: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """A random frame-aligned segment of ``wave`` (``audio``) and the ``mel`` frames that cover
    it (``audio_mel``); with ``pitch`` (f0 per mel frame), its f0 over the same frames too
    (``audio_pitch``, 0 past the end)."""
    frames = segment_size // hop_length
    offset = int(rng.integers(0, max(0, mel.shape[1] - frames) + 1))
    start = offset * hop_length
    out = {
        "audio": _fit(wave[start : start + segment_size], segment_size, 0.0).astype(np.float32),
        "audio_mel": _fit(mel[:, offset : offset + frames], frames, silence).astype(np.float32),
    }
    if pitch is not None:
        out["audio_pitch"] = _fit(pitch[offset : offset + frames], frames, 0.0).astype(np.float32)
    return out


def predicted_mel_name(utt_id: str) -> str:
    """The file name of an utterance's predicted mel in a ``mel_dir``."""
    return utt_id.replace("/", "__").replace("\\", "__") + ".npy"


class VoiceDataset(EpochItems):
    """Utterances of a corpus as TTS / vocoder training items."""

    mel_keys = ("mel",)

    def __init__(
        self,
        data: CorpusData,
        *,
        segment_size: int,
        test_fraction: float | None,
        pitch: bool = True,
        mel_dir: str = "",
    ) -> None:
        audio = data.source.audio
        check_segment(segment_size, audio.hop_length, "$.data.options.segment_size")
        self.data = data
        self.info: DatasetInfo = data.info
        self.segment_size = segment_size
        self.with_pitch = pitch
        self.mel_dir = mel_dir
        self.test_fraction = test_fraction
        self.silence = float(np.log(audio.log_clamp))
        self.epoch = 0
        self._lengths = data.expected_frames()

    def __len__(self) -> int:
        return len(self.data.utterances)

    @property
    def durations(self) -> np.ndarray:
        return np.array([u.duration for u in self.data.utterances], dtype=np.float64)

    @property
    def split_keys(self) -> list[str]:
        return [u.id for u in self.data.utterances]

    @staticmethod
    def predicted_mel_name(utt_id: str) -> str:
        """The file name that an utterance's predicted mel has in a ``mel_dir``: what the
        ``finetune-vocoder`` stage writes for this dataset to read."""
        return predicted_mel_name(utt_id)

    def _predicted(self, utt_id: str, mel: np.ndarray) -> np.ndarray:
        return _load_predicted(self.mel_dir, utt_id, mel.shape[1])

    def for_evaluation(self) -> VoiceDataset:
        return self

    def item(self, index: int, epoch: int, transform: WaveTransform | None = None) -> Item:
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} of a dataset of {len(self)}")
        utt, source = self.data.utterances[index], self.data.source
        rng = item_rng(self.data.seed, epoch, index)
        wave = None
        if transform is not None:
            wave = transform(source.wave(utt), rng)
            mel = source.mel_of(wave)
        else:
            mel = source.mel(utt)
        tokens = self.data.tokens[index]
        out: Item = {
            "id": utt.id,
            "tokens": tokens,
            "mel": mel,
            "speaker": np.int64(utt.speaker_id),
            "token_length": np.int64(len(tokens)),
            "mel_length": np.int64(mel.shape[1]),
        }
        if self.with_pitch:
            n_frames = mel.shape[1]
            out["pitch"] = (
                source.pitch(utt, n_frames) if wave is None else source.pitch_of(wave, n_frames)
            )
        if self.segment_size:
            segment = audio_segment(
                source.wave(utt) if wave is None else wave,
                self._predicted(utt.id, mel) if self.mel_dir else mel,
                segment_size=self.segment_size,
                hop_length=source.audio.hop_length,
                silence=self.silence,
                rng=rng,
                pitch=out.get("pitch"),
            )
            out.update(segment)
        return out


def _load_predicted(mel_dir: str, utt_id: str, frames: int) -> np.ndarray:
    path = Path(mel_dir) / predicted_mel_name(utt_id)
    try:
        mel: np.ndarray = np.load(path)
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{path}: cannot read the predicted mel of {utt_id}: {exc}") from None
    if mel.ndim != 2 or mel.shape[1] != frames:
        raise CorpusError(
            f"{path}: predicted mel of {utt_id} has shape {mel.shape}, the recording has "
            f"{frames} frames: predict the mels again for this corpus and audio settings"
        )
    return mel.astype(np.float32)


def create(options: VoiceOptions, *, config: Config, registry: Any = None) -> VoiceDataset:
    """The ``voice`` dataset over ``config.data.corpus``."""
    return VoiceDataset(
        load_corpus_data(config),
        segment_size=options.segment_size,
        test_fraction=options.test_fraction,
        pitch=options.pitch,
        mel_dir=options.mel_dir,
    )
