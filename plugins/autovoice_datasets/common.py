"""What every built-in dataset starts from: the checked corpus, its tokens and its features."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import attrs
import numpy as np

from autovoice.config.fields import hop_multiple
from autovoice.config.schema import Config
from autovoice.data.dataset import DatasetInfo, EpochIndexed
from autovoice.data.loading import FeatureSource
from autovoice.data.reader import load_corpus
from autovoice.data.records import (
    EMPTY_TEXT,
    BadSample,
    BadSampleError,
    Corpus,
    Utterance,
    summarize,
)
from autovoice.errors import ConfigError
from autovoice.text import TextError, TextFrontEnd

logger = logging.getLogger(__name__)

LOGGED_SKIPS = 50
"""Skipped samples named one by one in the log; ``autovoice corpus check`` lists them all."""


@attrs.frozen(kw_only=True)
class Tokenized:
    """The utterances kept, each with its token ids and normalized text."""

    utterances: tuple[Utterance, ...]
    tokens: tuple[np.ndarray, ...]
    texts: tuple[str, ...]


@attrs.frozen(kw_only=True)
class CorpusData:
    """A loaded corpus, ready for a dataset: utterances, tokens, features, info, seed."""

    utterances: tuple[Utterance, ...]
    tokens: tuple[np.ndarray, ...]
    texts: tuple[str, ...]
    """Normalized text per utterance (what paired data matches sentences on)."""
    info: DatasetInfo
    source: FeatureSource
    seed: int

    def expected_frames(self) -> np.ndarray:
        return np.array([self.source.expected_frames(u) for u in self.utterances], np.int64)


def _empty_text(utt: Utterance, detail: str) -> BadSample:
    source, _, line = utt.where.rpartition(":")
    numbered = bool(source) and line.isdigit()
    return BadSample(
        reason=EMPTY_TEXT,
        source=source if numbered else utt.where,
        line=int(line) if numbered else None,
        audio_path=utt.audio_path,
        detail=detail,
    )


def _tokenize(corpus: Corpus, front_end: Any) -> tuple[Tokenized, list[BadSample], Counter[str]]:
    kept, tokens, texts, bad = [], [], [], []
    unknown: Counter[str] = Counter()
    for utt in corpus.utterances:
        try:
            result = front_end.process(utt.text)
        except TextError as exc:
            bad.append(_empty_text(utt, str(exc)))
            continue
        unknown.update(result.unknown)
        kept.append(utt)
        tokens.append(np.asarray(result.ids, dtype=np.int64))
        texts.append(str(result.text))
    return Tokenized(utterances=tuple(kept), tokens=tuple(tokens), texts=tuple(texts)), bad, unknown


def load_corpus_data(config: Config) -> CorpusData:
    """Read, check and tokenize the corpus of ``config.data``; apply ``on_bad_sample``."""
    corpus = load_corpus(config.data)
    front_end = TextFrontEnd.from_config(config.text)
    tokenized, empty, unknown = _tokenize(corpus, front_end)
    if empty and config.data.on_bad_sample == "error":
        raise BadSampleError(corpus.report.corpus, empty)
    report = corpus.report
    if empty:
        report = summarize(
            report.corpus, report.format, tokenized.utterances, [*report.bad, *empty]
        )
    _log_skipped(report.bad)
    info = DatasetInfo(
        speakers=corpus.speakers,
        symbols=front_end.table.to_dict(),
        n_symbols=len(front_end.table),
        report=report,
        unknown_symbols=dict(unknown.most_common()),
    )
    return CorpusData(
        utterances=tokenized.utterances,
        tokens=tokenized.tokens,
        texts=tokenized.texts,
        info=info,
        source=FeatureSource.create(config.audio, config.data.cache_dir),
        seed=config.data.seed,
    )


def _log_skipped(bad: tuple[BadSample, ...]) -> None:
    for sample in bad[:LOGGED_SKIPS]:
        logger.warning("skipped %s", sample)
    if len(bad) > LOGGED_SKIPS:
        logger.warning(
            "skipped %d more bad samples (autovoice corpus check lists them all)",
            len(bad) - LOGGED_SKIPS,
        )


def check_segment(segment_size: int, hop_length: int, path: str) -> None:
    """A segment must hold whole mel frames."""
    issues = hop_multiple(segment_size, hop_length, path)
    if issues:
        raise ConfigError(issues)


class EpochItems(EpochIndexed):
    """What the voice and paired datasets share: items indexed by (index, epoch)
    (:class:`~autovoice.data.dataset.EpochIndexed`) and precomputed lengths (mel frames) for
    bucketing."""

    _lengths: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return self._lengths
