"""The records a corpus is read into: entries, utterances, bad samples, and the corpus report.

Everything here is a frozen value; building a report from utterances is a pure function.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import attrs

from autovoice.errors import AutovoiceError

# Why a sample was rejected; the keys of CorpusReport.counts().
MALFORMED_LINE = "malformed line"
MISSING_FIELD = "missing field"
EMPTY_TEXT = "empty text"
DUPLICATE_ID = "duplicate id"
MISSING_FILE = "missing file"
MISSING_TRANSCRIPT = "missing transcript"
EMPTY_FILE = "empty file"
UNREADABLE_AUDIO = "unreadable audio"
TRUNCATED_AUDIO = "truncated audio"
NON_FINITE_AUDIO = "non-finite audio"
SILENT_AUDIO = "silent audio"
MISNAMED_FORMAT = "misnamed format"
TOO_SHORT = "too short"
TOO_LONG = "too long"

REASONS = (
    MALFORMED_LINE,
    MISSING_FIELD,
    EMPTY_TEXT,
    DUPLICATE_ID,
    MISSING_FILE,
    MISSING_TRANSCRIPT,
    EMPTY_FILE,
    UNREADABLE_AUDIO,
    TRUNCATED_AUDIO,
    NON_FINITE_AUDIO,
    SILENT_AUDIO,
    MISNAMED_FORMAT,
    TOO_SHORT,
    TOO_LONG,
)


@attrs.frozen(kw_only=True)
class Entry:
    """One line (or transcript file) of a corpus, parsed but not yet checked against its audio."""

    id: str
    audio_path: str
    text: str
    speaker: str
    source: str
    """The file the entry was read from (metadata.csv, the manifest, a transcript)."""
    line: int | None = None
    """1-based line in ``source``; None for a whole-file transcript."""

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line is not None else self.source


@attrs.frozen(kw_only=True)
class Utterance:
    """A checked entry: its audio exists, its header is readable and its length is in range."""

    id: str
    audio_path: str
    text: str
    speaker: str
    speaker_id: int
    duration: float
    """Seconds, from the audio file's header."""
    sample_rate: int
    """The audio file's own rate, before resampling to ``audio.sample_rate``."""
    where: str
    """``file:line`` of the entry that named it."""


@attrs.frozen(kw_only=True)
class BadSample:
    """A rejected line or file: the reason (one of :data:`REASONS`), where, and what is wrong."""

    reason: str
    source: str
    line: int | None = None
    audio_path: str = ""
    detail: str = ""

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line is not None else self.source

    def __str__(self) -> str:
        audio = f" ({self.audio_path})" if self.audio_path else ""
        said = self.detail and not self.detail.startswith(self.reason)
        return f"{self.where}{audio}: {self.reason}" + (f": {self.detail}" if said else "")


class CorpusError(AutovoiceError):
    """A corpus that cannot be used: unreadable, of unknown layout, or with bad samples."""


class BadSampleError(CorpusError):
    """Bad samples found with ``on_bad_sample = "error"``; each is named with its file and line."""

    def __init__(self, corpus: str, bad: Sequence[BadSample], show: int = 10) -> None:
        self.corpus = corpus
        self.bad = tuple(bad)
        lines = [f"{corpus}: {len(self.bad)} bad sample(s):"]
        lines += [f"  {sample}" for sample in self.bad[:show]]
        if len(self.bad) > show:
            lines.append(f"  ... and {len(self.bad) - show} more")
        lines.append('(set data.on_bad_sample = "skip" to skip and count them instead)')
        super().__init__("\n".join(lines))


@attrs.frozen(kw_only=True)
class LengthStats:
    """Summary of utterance durations in seconds."""

    min: float = 0.0
    median: float = 0.0
    mean: float = 0.0
    max: float = 0.0

    @classmethod
    def of(cls, values: Sequence[float]) -> LengthStats:
        if not values:
            return cls()
        return cls(
            min=min(values),
            median=statistics.median(values),
            mean=statistics.fmean(values),
            max=max(values),
        )


@attrs.frozen(kw_only=True)
class CorpusReport:
    """What a corpus holds once checked, and every sample that was rejected, with why."""

    corpus: str
    format: str
    utterances: int
    hours: float
    speakers: Mapping[str, int]
    """Utterances per speaker, by name."""
    durations: LengthStats
    bad: tuple[BadSample, ...] = ()

    def counts(self) -> dict[str, int]:
        """Rejected samples per reason, most frequent first."""
        return dict(Counter(sample.reason for sample in self.bad).most_common())

    def examples(self, per_reason: int = 3) -> dict[str, list[BadSample]]:
        """Up to ``per_reason`` rejected samples of each reason, in corpus order."""
        found: dict[str, list[BadSample]] = {}
        for sample in self.bad:
            group = found.setdefault(sample.reason, [])
            if len(group) < per_reason:
                group.append(sample)
        return found

    def to_dict(self) -> dict[str, object]:
        """A JSON-able summary (bad samples as strings)."""
        return {
            "corpus": self.corpus,
            "format": self.format,
            "utterances": self.utterances,
            "hours": self.hours,
            "speakers": dict(self.speakers),
            "durations": attrs.asdict(self.durations),
            "bad": self.counts(),
            "bad_samples": [str(sample) for sample in self.bad],
        }


@attrs.frozen(kw_only=True)
class Corpus:
    """The usable utterances of a corpus, its speakers (index = speaker id) and its report."""

    utterances: tuple[Utterance, ...]
    speakers: tuple[str, ...]
    report: CorpusReport


def speaker_table(names: Iterable[str]) -> tuple[str, ...]:
    """Speaker names in id order: sorted, so ids do not depend on the order of the corpus."""
    return tuple(sorted(set(names)))


def summarize(
    corpus: str, layout: str, utterances: Sequence[Utterance], bad: Sequence[BadSample]
) -> CorpusReport:
    """The report of checked utterances and rejected samples."""
    durations = [utt.duration for utt in utterances]
    per_speaker = Counter(utt.speaker for utt in utterances)
    return CorpusReport(
        corpus=corpus,
        format=layout,
        utterances=len(utterances),
        hours=sum(durations) / 3600.0,
        speakers={name: per_speaker[name] for name in sorted(per_speaker)},
        durations=LengthStats.of(durations),
        bad=tuple(bad),
    )
