"""The text files of the demo corpus beside its wavs: index, speakers and README."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

import attrs

from autovoice import espeak
from autovoice._version import __version__

if TYPE_CHECKING:
    from autovoice.corpus.demo import DemoSpeaker


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class IndexRow(Protocol):
    """What an index line needs of an utterance: id, speaker name, raw and spoken text."""

    @property
    def id(self) -> str: ...
    @property
    def speaker(self) -> _Named: ...
    @property
    def raw(self) -> str: ...
    @property
    def text(self) -> str: ...


def wav_path(utterance_id: str) -> str:
    """Where an utterance's audio lives, relative to the corpus folder."""
    return f"wavs/{utterance_id}.wav"


def write_index(folder: Path, rows: Sequence[IndexRow], durations: Sequence[float]) -> None:
    """metadata.csv and manifest.jsonl, one line per utterance in row order."""
    with _open_text(folder / "metadata.csv") as meta, _open_text(folder / "manifest.jsonl") as man:
        for row, duration in zip(rows, durations, strict=True):
            meta.write(f"{row.id}|{row.raw}|{row.text}\n")
            entry: dict[str, object] = {
                "audio_filepath": wav_path(row.id),
                "text": row.text,
                "speaker": row.speaker.name,
                "duration": round(duration, 6),
            }
            man.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _open_text(path: Path) -> TextIO:
    return path.open("w", encoding="utf-8", newline="\n")


def write_speakers(folder: Path, cast: Sequence[DemoSpeaker]) -> None:
    table = {str(s.index): attrs.asdict(s, filter=lambda a, _: a.name != "index") for s in cast}
    text = json.dumps(table, indent=2, ensure_ascii=False) + "\n"
    (folder / "speakers.json").write_text(text, encoding="utf-8")


def write_readme(
    folder: Path, cast: Sequence[DemoSpeaker], sentences: int, seed: int, sample_rate: int
) -> None:
    voices = "\n".join(
        f"  {s.name}: {s.voice}, rate {s.rate} wpm, pitch {s.pitch}, range {s.pitch_range}"
        for s in cast
    )
    text = _README.format(
        version=__version__,
        espeak=espeak.version(),
        sentences=sentences,
        speakers=len(cast),
        seed=seed,
        sample_rate=sample_rate,
        voices=voices,
    )
    (folder / "README.txt").write_text(text, encoding="utf-8")


_README = """\
autovoice demo corpus
=====================

Synthetic English speech, made by autovoice {version} with eSpeak NG {espeak}
(`autovoice corpus demo`, seed {seed}). The {sentences} sentences were written for autovoice and
ship with it; no recording of any person is included. Every sentence is spoken by each of
the {speakers} speakers below, so utterances with the same number are the same sentence.

Speakers (eSpeak NG voice variants):
{voices}

Files
  metadata.csv    LJSpeech style: id|raw text|normalized text (the normalized text is spoken)
  manifest.jsonl  one JSON object per utterance: audio_filepath, text, speaker, duration
  speakers.json   speaker index -> name, voice, rate, pitch, pitch_range
  wavs/<id>.wav   16-bit PCM mono, {sample_rate} Hz, peak 0.9, leading and trailing silence
                  trimmed

The same autovoice and eSpeak NG versions, arguments and seed give byte-identical files.
"""
