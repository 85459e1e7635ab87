"""Reading and checking a corpus: the file-reading edge of :mod:`autovoice.data`.

:func:`load_corpus` finds the layout, parses every line, decodes every audio file once (in
blocks, memory bounded) and checks it (:mod:`autovoice.data.audio_checks`), and either raises one
error naming every bad file and line (``on_bad_sample = "error"``) or leaves them out and counts
them in the report (``"skip"``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

from autovoice.audio.io import AudioFileError, scan_audio
from autovoice.config.schema import DataConfig
from autovoice.data import formats
from autovoice.data.audio_checks import audio_fault
from autovoice.data.records import (
    EMPTY_FILE,
    MALFORMED_LINE,
    MISSING_FILE,
    UNREADABLE_AUDIO,
    BadSample,
    BadSampleError,
    Corpus,
    CorpusError,
    Entry,
    Utterance,
    speaker_table,
    summarize,
)

MANIFEST_NAME = "manifest.jsonl"
METADATA_NAME = "metadata.csv"
FORMATS = ("ljspeech", "jsonl", "folders")


@attrs.frozen(kw_only=True)
class Layout:
    """A resolved corpus location: its format and the listing file (or folder) to read."""

    format: str
    listing: Path
    root: Path
    """Folder that relative audio paths start from; its name is the default speaker name."""


def _has_audio(folder: Path) -> bool:
    return any(p.suffix.lower() in formats.AUDIO_SUFFIXES for p in folder.iterdir())


def _speaker_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def detect_format(path: str | os.PathLike[str]) -> str:
    """The layout of the corpus at ``path``: ``ljspeech``, ``jsonl`` or ``folders``."""
    where = Path(path)
    if where.is_file():
        if where.suffix.lower() in (".jsonl", ".json"):
            return "jsonl"
        if where.suffix.lower() == ".csv":
            return "ljspeech"
        raise CorpusError(f"{where}: not a corpus listing (expected a .jsonl manifest or a .csv)")
    if not where.is_dir():
        raise CorpusError(f"{where}: corpus not found")
    if (where / MANIFEST_NAME).is_file():
        return "jsonl"
    if (where / METADATA_NAME).is_file():
        return "ljspeech"
    if any(_has_audio(d) for d in _speaker_dirs(where)):
        return "folders"
    raise CorpusError(
        f"{where}: cannot tell the corpus layout: no {MANIFEST_NAME}, no {METADATA_NAME} and no "
        "speaker folders with audio files"
    )


def resolve_layout(path: str | os.PathLike[str], layout: str = "auto") -> Layout:
    """Where to read a corpus from, given its path and ``data.format``."""
    where = Path(path)
    kind = detect_format(where) if layout == "auto" else layout
    if kind not in FORMATS:
        raise CorpusError(f"unknown corpus format {kind!r}; formats: {', '.join(FORMATS)}")
    if kind == "folders":
        if not where.is_dir():
            raise CorpusError(f"{where}: a folders corpus must be a directory")
        return Layout(format=kind, listing=where, root=where)
    default = MANIFEST_NAME if kind == "jsonl" else METADATA_NAME
    listing = where / default if where.is_dir() else where
    if not listing.is_file():
        raise CorpusError(f"{listing}: not found (expected a {kind} listing)")
    return Layout(format=kind, listing=listing, root=listing.parent)


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """``(number, text)`` per line; text is None for a line that is not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    for number, chunk in enumerate(raw.splitlines(), start=1):
        try:
            yield number, chunk.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            yield number, None


def _not_utf8(source: Path, number: int) -> BadSample:
    return BadSample(reason=MALFORMED_LINE, source=str(source), line=number, detail="not UTF-8")


def _read_ljspeech(layout: Layout) -> list[formats.Parsed]:
    source, root, speaker = str(layout.listing), str(layout.root), layout.root.name
    out: list[formats.Parsed] = []
    for number, line in _lines(layout.listing):
        if line is None:
            out.append(_not_utf8(layout.listing, number))
        elif line.strip():
            out.append(formats.parse_ljspeech_line(line, number, source, root, speaker))
    return out


def _read_jsonl(layout: Layout) -> list[formats.Parsed]:
    source, root = str(layout.listing), str(layout.root)
    out: list[formats.Parsed] = []
    for number, line in _lines(layout.listing):
        parsed = (
            _not_utf8(layout.listing, number)
            if line is None
            else formats.parse_jsonl_line(line, number, source, root)
        )
        if parsed is not None:
            out.append(parsed)
    return out


def _read_transcript(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def _read_folders(layout: Layout) -> list[formats.Parsed]:
    out: list[formats.Parsed] = []
    for folder in _speaker_dirs(layout.root):
        names = [p.name for p in folder.iterdir() if p.is_file()]
        for audio, transcript in formats.pair_folder_files(str(folder), names):
            text = _read_transcript(folder / transcript) if transcript else None
            if transcript and text is None:
                out.append(_not_utf8(folder / transcript, 1))
                continue
            out.append(formats.folder_entry(folder.name, str(folder), audio, transcript, text))
    return out


_READERS = {"ljspeech": _read_ljspeech, "jsonl": _read_jsonl, "folders": _read_folders}


def read_entries(layout: Layout) -> list[formats.Parsed]:
    """Every entry of the corpus, and a bad sample for every line that cannot be used."""
    parsed = formats.drop_duplicates(_READERS[layout.format](layout))
    default = layout.root.resolve().name or "default"
    return [
        attrs.evolve(item, speaker=default)
        if isinstance(item, Entry) and not item.speaker
        else item
        for item in parsed
    ]


def _audio_problem(entry: Entry, error: AudioFileError) -> BadSample:
    path = Path(entry.audio_path)
    if not path.exists():
        reason = MISSING_FILE
    elif path.is_file() and path.stat().st_size == 0:
        reason = EMPTY_FILE
    else:
        reason = UNREADABLE_AUDIO
    return BadSample(
        reason=reason,
        source=entry.source,
        line=entry.line,
        audio_path=entry.audio_path,
        detail=error.problem,
    )


def check_entry(entry: Entry, data: DataConfig) -> tuple[float, int] | BadSample:
    """``(duration, sample_rate)`` of an entry's audio, decoded whole, or why it is unusable."""
    try:
        scan = scan_audio(entry.audio_path)
    except AudioFileError as error:
        return _audio_problem(entry, error)
    fault = audio_fault(scan, entry.audio_path, data)
    if fault is not None:
        reason, detail = fault
        return BadSample(
            reason=reason,
            source=entry.source,
            line=entry.line,
            audio_path=entry.audio_path,
            detail=detail,
        )
    return scan.decoded_frames / scan.info.sample_rate, scan.info.sample_rate


def check_entries(
    parsed: Sequence[formats.Parsed], data: DataConfig
) -> tuple[list[Utterance], list[BadSample]]:
    """Check every entry's audio; usable ones become utterances with speaker ids."""
    kept: list[tuple[Entry, float, int]] = []
    bad: list[BadSample] = []
    for item in parsed:
        result = check_entry(item, data) if isinstance(item, Entry) else item
        if isinstance(result, BadSample):
            bad.append(result)
        elif isinstance(item, Entry):
            kept.append((item, *result))
    speakers = speaker_table(entry.speaker for entry, _, _ in kept)
    ids = {name: index for index, name in enumerate(speakers)}
    utterances = [
        Utterance(
            id=entry.id,
            audio_path=entry.audio_path,
            text=entry.text,
            speaker=entry.speaker,
            speaker_id=ids[entry.speaker],
            duration=duration,
            sample_rate=rate,
            where=entry.where,
        )
        for entry, duration, rate in kept
    ]
    return utterances, bad


def scan_corpus(data: DataConfig) -> Corpus:
    """Read and check the corpus ``data`` names, keeping every bad sample in the report."""
    if not data.corpus:
        raise CorpusError("data.corpus is empty: set it to a corpus folder or manifest")
    layout = resolve_layout(data.corpus, data.format)
    utterances, bad = check_entries(read_entries(layout), data)
    report = summarize(str(layout.listing), layout.format, utterances, bad)
    return Corpus(utterances=tuple(utterances), speakers=tuple(report.speakers), report=report)


def load_corpus(data: DataConfig, *, on_bad_sample: str | None = None) -> Corpus:
    """:func:`scan_corpus`, then ``data.on_bad_sample`` (or ``on_bad_sample``): raise one error
    naming every bad file and line, or keep them counted in the report."""
    corpus = scan_corpus(data)
    report = corpus.report
    if report.bad and (on_bad_sample or data.on_bad_sample) == "error":
        raise BadSampleError(report.corpus, report.bad)
    if not corpus.utterances:
        raise CorpusError(f"{report.corpus}: no usable utterances ({len(report.bad)} bad samples)")
    return corpus
