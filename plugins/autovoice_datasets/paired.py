"""The ``paired`` dataset: one sentence spoken by two speakers, for voice conversion.

Utterances are matched on their normalized text; every ordered pair of different speakers that
said the same sentence is an item (narrowed by ``source_speaker`` / ``target_speaker``). Item
keys: ``id`` (``"<source id>-><target id>"``), ``tokens``, ``source_mel`` (n_mels, T_source),
``target_mel`` (n_mels, T_source with ``align = "dtw"``, else its own length), ``source_speaker``
and ``target_speaker`` (int64). A wave transform (augmentation) applies to the source only.
Splits keep all pairs of one sentence together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autovoice.config.schema import Config
from autovoice.data.augment import item_rng
from autovoice.data.cache import file_key
from autovoice.data.dataset import DatasetInfo, Item, WaveTransform
from autovoice.data.dtw import dtw_path, frame_distances, warp_to_source
from autovoice.data.records import CorpusError, Utterance
from autovoice_datasets.common import CorpusData, EpochItems, load_corpus_data
from autovoice_datasets.options import PairedOptions


def find_pairs(
    texts: Sequence[str],
    utterances: Sequence[Utterance],
    *,
    source_speaker: str = "",
    target_speaker: str = "",
) -> list[tuple[int, int]]:
    """``(source, target)`` index pairs: same text, different speakers, in a stable order."""
    groups: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        groups.setdefault(" ".join(text.lower().split()), []).append(index)
    pairs = []
    for key in sorted(groups):
        members = groups[key]
        for a in members:
            for b in members:
                sa, sb = utterances[a].speaker, utterances[b].speaker
                if sa == sb or (source_speaker and sa != source_speaker):
                    continue
                if target_speaker and sb != target_speaker:
                    continue
                pairs.append((a, b))
    return pairs


class PairedDataset(EpochItems):
    """Pairs of utterances of one sentence by two speakers."""

    mel_keys = ("source_mel",)

    def __init__(
        self,
        data: CorpusData,
        pairs: Sequence[tuple[int, int]],
        *,
        align: str,
        test_fraction: float | None,
    ) -> None:
        self.data = data
        self.info: DatasetInfo = data.info
        self.pairs = list(pairs)
        self.align = align
        self.test_fraction = test_fraction
        self.epoch = 0
        frames = data.expected_frames()
        self._lengths = np.array([frames[a] for a, _ in self.pairs], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def durations(self) -> np.ndarray:
        utts = self.data.utterances
        return np.array([utts[a].duration for a, _ in self.pairs], dtype=np.float64)

    @property
    def split_keys(self) -> list[str]:
        return [self.data.texts[a] for a, _ in self.pairs]

    def for_evaluation(self) -> PairedDataset:
        return self

    def _path(
        self, src: Utterance, tgt: Utterance, source: np.ndarray, target: np.ndarray, cached: bool
    ) -> np.ndarray:
        """The DTW path between two mels; cached (keyed on both files) unless augmented."""
        cache = self.data.source.cache
        if cache is None or not cached:
            return dtw_path(frame_distances(source, target))
        name = f"dtw-{file_key(tgt.audio_path)[:16]}"
        return cache.get(src.audio_path, name, lambda: dtw_path(frame_distances(source, target)))

    def item(self, index: int, epoch: int, transform: WaveTransform | None = None) -> Item:
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} of a dataset of {len(self)}")
        a, b = self.pairs[index]
        src, tgt = self.data.utterances[a], self.data.utterances[b]
        source = self.data.source
        if transform is not None:
            rng = item_rng(self.data.seed, epoch, index)
            source_mel = source.mel_of(transform(source.wave(src), rng))
        else:
            source_mel = source.mel(src)
        target_mel = source.mel(tgt)
        if self.align == "dtw":
            path = self._path(src, tgt, source_mel, target_mel, cached=transform is None)
            target_mel = warp_to_source(path, target_mel, source_mel.shape[1])
        return {
            "id": f"{src.id}->{tgt.id}",
            "tokens": self.data.tokens[a],
            "source_mel": source_mel,
            "target_mel": target_mel,
            "source_speaker": np.int64(src.speaker_id),
            "target_speaker": np.int64(tgt.speaker_id),
        }


def create(options: PairedOptions, *, config: Config, registry: Any = None) -> PairedDataset:
    """The ``paired`` dataset over ``config.data.corpus``."""
    data = load_corpus_data(config)
    for name in ("source_speaker", "target_speaker"):
        wanted = getattr(options, name)
        if wanted and wanted not in data.info.speakers:
            speakers = ", ".join(data.info.speakers)
            raise CorpusError(
                f"data.options.{name}: no speaker {wanted!r} in the corpus (speakers: {speakers})"
            )
    pairs = find_pairs(
        data.texts,
        data.utterances,
        source_speaker=options.source_speaker,
        target_speaker=options.target_speaker,
    )
    if not pairs:
        raise CorpusError(
            f"{data.info.report.corpus}: no sentence is spoken by two different speakers, "
            "so the paired dataset has no pairs"
        )
    return PairedDataset(data, pairs, align=options.align, test_fraction=options.test_fraction)
