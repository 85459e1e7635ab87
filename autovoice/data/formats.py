"""Parsing corpus listings into entries: pure functions over lines and file names.

Three layouts are understood:

``ljspeech``
    ``metadata.csv`` with ``id|text|normalized_text`` (or ``id|text``) per line; audio in
    ``wavs/<id>.wav``. One speaker, named after the corpus folder.
``jsonl``
    A manifest of JSON objects, one per line: ``audio_filepath`` (relative to the manifest's
    folder, or absolute), ``text``, optional ``speaker`` and ``duration``, optional ``id``.
``folders``
    ``DIR/<speaker>/<utt>.wav`` with the transcript in ``<utt>.txt`` or ``<utt>.lab``.

A line that cannot be used becomes a :class:`BadSample` naming the file and line; reading goes on.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

import attrs

from autovoice.data.records import (
    DUPLICATE_ID,
    EMPTY_TEXT,
    MALFORMED_LINE,
    MISSING_FIELD,
    MISSING_FILE,
    MISSING_TRANSCRIPT,
    BadSample,
    Entry,
)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
TRANSCRIPT_SUFFIXES = (".txt", ".lab")

Parsed = Entry | BadSample


def _join(root: str, path: str) -> str:
    return path if PurePath(path).is_absolute() else str(PurePath(root) / path)


def parse_ljspeech_line(line: str, number: int, source: str, root: str, speaker: str) -> Parsed:
    """One ``metadata.csv`` line; the normalized text is used when the line has one."""
    fields = line.rstrip("\r\n").split("|")
    bad = BadSample(reason=MALFORMED_LINE, source=source, line=number)
    if len(fields) not in (2, 3):
        detail = f"expected 2 or 3 fields separated by '|', got {len(fields)}"
        return _with(bad, detail=detail)
    utt_id = fields[0].strip()
    if not utt_id:
        return _with(bad, reason=MISSING_FIELD, detail="the id (first field) is empty")
    text = (fields[2] if len(fields) == 3 and fields[2].strip() else fields[1]).strip()
    audio = _join(root, posixpath.join("wavs", f"{utt_id}.wav"))
    if not text:
        return _with(bad, reason=EMPTY_TEXT, audio_path=audio)
    return Entry(
        id=utt_id, audio_path=audio, text=text, speaker=speaker, source=source, line=number
    )


def _with(bad: BadSample, **changes: Any) -> BadSample:
    return attrs.evolve(bad, **changes)


def _field(record: Mapping[str, Any], name: str, types: tuple[type, ...], required: bool) -> Any:
    """A manifest field, checked; raises ValueError with the reason and what is wrong."""
    if name not in record or record[name] is None:
        if required:
            raise ValueError(MISSING_FIELD, f"no {name!r}")
        return None
    value = record[name]
    if not isinstance(value, types) or isinstance(value, bool):
        kinds = " or ".join(t.__name__ for t in types)
        raise ValueError(MALFORMED_LINE, f"{name!r} must be {kinds}, got {type(value).__name__}")
    return value


def _manifest_id(record: Mapping[str, Any], audio: str) -> str:
    given = record.get("id")
    if isinstance(given, str) and given.strip():
        return given.strip()
    return str(PurePath(audio).with_suffix("")).replace("\\", "/")


def parse_jsonl_line(line: str, number: int, source: str, root: str) -> Parsed | None:
    """One manifest line; None for a blank line."""
    if not line.strip():
        return None
    bad = BadSample(reason=MALFORMED_LINE, source=source, line=number)
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return _with(bad, detail=f"invalid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(record, dict):
        return _with(bad, detail=f"expected a JSON object, got {type(record).__name__}")
    try:
        audio = _field(record, "audio_filepath", (str,), required=True)
        text = _field(record, "text", (str,), required=True)
        speaker = _field(record, "speaker", (str, int), required=False)
        _field(record, "duration", (int, float), required=False)
    except ValueError as exc:
        reason, detail = exc.args
        return _with(bad, reason=reason, detail=detail)
    path = _join(root, audio)
    if not text.strip():
        return _with(bad, reason=EMPTY_TEXT, audio_path=path)
    return Entry(
        id=_manifest_id(record, audio),
        audio_path=path,
        text=text.strip(),
        speaker="" if speaker is None else str(speaker),
        source=source,
        line=number,
    )


def pair_folder_files(speaker_dir: str, names: Iterable[str]) -> list[tuple[str, str | None]]:
    """Match the audio files of one speaker folder with their transcripts.

    Returns ``(audio_name, transcript_name or None)`` per audio file, sorted by name; a
    transcript with no audio is returned as ``(transcript_name, None)`` with no audio suffix, so
    the caller can report it.
    """
    by_stem: dict[str, dict[str, str]] = {}
    for name in sorted(names):
        path = PurePath(name)
        suffix = path.suffix.lower()
        kind = (
            "audio" if suffix in AUDIO_SUFFIXES else "text" if suffix in TRANSCRIPT_SUFFIXES else ""
        )
        if kind:
            by_stem.setdefault(path.stem, {}).setdefault(kind, name)
    pairs: list[tuple[str, str | None]] = []
    for stem in sorted(by_stem):
        found = by_stem[stem]
        if "audio" in found:
            pairs.append((found["audio"], found.get("text")))
        else:
            pairs.append((found["text"], None))
    return pairs


def folder_entry(
    speaker: str, speaker_dir: str, audio: str, transcript: str | None, text: str | None
) -> Parsed:
    """The entry of one audio file of a speaker folder, given its transcript's contents."""
    audio_path = str(PurePath(speaker_dir) / audio)
    if transcript is None:
        if PurePath(audio).suffix.lower() in TRANSCRIPT_SUFFIXES:
            return BadSample(
                reason=MISSING_FILE,
                source=audio_path,
                detail="transcript has no audio file (.wav, .flac or .ogg) beside it",
            )
        return BadSample(
            reason=MISSING_TRANSCRIPT,
            source=audio_path,
            audio_path=audio_path,
            detail="no .txt or .lab beside the audio file",
        )
    source = str(PurePath(speaker_dir) / transcript)
    clean = " ".join((text or "").split())
    if not clean:
        return BadSample(reason=EMPTY_TEXT, source=source, line=1, audio_path=audio_path)
    stem = PurePath(audio).stem
    return Entry(
        id=f"{speaker}/{stem}",
        audio_path=audio_path,
        text=clean,
        speaker=speaker,
        source=source,
        line=1,
    )


def drop_duplicates(parsed: Iterable[Parsed]) -> list[Parsed]:
    """Keep the first entry of each id; later ones become bad samples naming the first."""
    seen: dict[str, Entry] = {}
    out: list[Parsed] = []
    for item in parsed:
        if isinstance(item, Entry):
            first = seen.setdefault(item.id, item)
            if first is not item:
                item = BadSample(
                    reason=DUPLICATE_ID,
                    source=item.source,
                    line=item.line,
                    audio_path=item.audio_path,
                    detail=f"id {item.id!r} already used at {first.where}",
                )
        out.append(item)
    return out
