"""Corpus layouts are read; every kind of bad line or file is named (error) or counted (skip)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from autovoice.config import DataConfig
from autovoice.data.reader import detect_format, load_corpus, scan_corpus
from autovoice.data.records import BadSampleError, CorpusError

RATE = 16000


def write_wav(path: Path, seconds: float = 1.0, freq: float = 220.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(RATE * seconds)) / RATE
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), RATE)
    return path


def make_ljspeech(root: Path, lines: list[str] | None = None) -> Path:
    for name, seconds in (("LJ001", 1.0), ("LJ002", 1.5), ("LJ003", 2.0)):
        write_wav(root / "wavs" / f"{name}.wav", seconds)
    default = [
        "LJ001|Dr. Smith paid $5.|Doctor Smith paid five dollars.",
        "LJ002|Two fields.",
        "LJ003|Three|",
    ]
    (root / "metadata.csv").write_text("\n".join(lines or default) + "\n")
    return root


def make_manifest(root: Path, records: list[dict[str, object]] | None = None) -> Path:
    write_wav(root / "audio" / "a.wav", 1.0)
    write_wav(root / "audio" / "b.wav", 1.2)
    write_wav(root / "audio" / "c.wav", 0.8)
    default: list[dict[str, object]] = [
        {"audio_filepath": "audio/a.wav", "text": "first", "speaker": "zoe", "duration": 1.0},
        {"audio_filepath": "audio/b.wav", "text": "second", "speaker": "adam"},
        {"audio_filepath": "audio/c.wav", "text": "third", "speaker": "zoe"},
    ]
    lines = [json.dumps(r) for r in (records if records is not None else default)]
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


def make_folders(root: Path) -> Path:
    write_wav(root / "bob" / "u1.wav")
    (root / "bob" / "u1.txt").write_text("hello there\n")
    write_wav(root / "alice" / "u1.wav")
    (root / "alice" / "u1.lab").write_text("general  kenobi")
    write_wav(root / "alice" / "u2.wav", 1.3)
    (root / "alice" / "u2.txt").write_text("another one")
    return root


def data(path: Path, **kw: object) -> DataConfig:
    return DataConfig(corpus=str(path), **kw)  # type: ignore[arg-type]


def test_ljspeech_three_and_two_field_lines(tmp_path: Path) -> None:
    root = make_ljspeech(tmp_path / "LJSpeech-1.1")
    corpus = load_corpus(data(root))
    assert [u.id for u in corpus.utterances] == ["LJ001", "LJ002", "LJ003"]
    texts = [u.text for u in corpus.utterances]
    assert texts == ["Doctor Smith paid five dollars.", "Two fields.", "Three"]
    assert corpus.speakers == ("LJSpeech-1.1",)
    assert [u.duration for u in corpus.utterances] == pytest.approx([1.0, 1.5, 2.0])
    assert corpus.utterances[1].where.endswith("metadata.csv:2")
    assert corpus.report.hours == pytest.approx(4.5 / 3600)


def test_jsonl_paths_are_relative_to_the_manifest_and_speakers_sorted(tmp_path: Path) -> None:
    root = make_manifest(tmp_path / "m")
    corpus = load_corpus(data(root / "manifest.jsonl"))
    assert corpus.speakers == ("adam", "zoe")
    assert [(u.speaker, u.speaker_id) for u in corpus.utterances] == [
        ("zoe", 1),
        ("adam", 0),
        ("zoe", 1),
    ]
    assert Path(corpus.utterances[0].audio_path) == root / "audio" / "a.wav"
    assert corpus.report.speakers == {"adam": 1, "zoe": 2}


def test_speaker_ids_do_not_depend_on_line_order(tmp_path: Path) -> None:
    first = make_manifest(tmp_path / "one")
    lines = (first / "manifest.jsonl").read_text().splitlines()
    second = make_manifest(tmp_path / "two", [json.loads(x) for x in reversed(lines)])
    ids_one = {u.id: u.speaker_id for u in load_corpus(data(first)).utterances}
    ids_two = {u.id: u.speaker_id for u in load_corpus(data(second)).utterances}
    assert ids_one == ids_two


def test_speaker_folders_with_txt_and_lab(tmp_path: Path) -> None:
    corpus = load_corpus(data(make_folders(tmp_path / "f")))
    assert corpus.speakers == ("alice", "bob")
    by_id = {u.id: u for u in corpus.utterances}
    assert set(by_id) == {"alice/u1", "alice/u2", "bob/u1"}
    assert by_id["alice/u1"].text == "general kenobi"
    assert by_id["bob/u1"].speaker_id == 1


@pytest.mark.parametrize(
    ("make", "layout"),
    [(make_ljspeech, "ljspeech"), (make_manifest, "jsonl"), (make_folders, "folders")],
)
def test_auto_detects_each_layout(
    tmp_path: Path, make: Callable[[Path], Path], layout: str
) -> None:
    root = make(tmp_path / "c")
    assert detect_format(root) == layout
    assert load_corpus(data(root)).report.format == layout


def test_unknown_layout_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="cannot tell the corpus layout"):
        load_corpus(data(tmp_path / "empty"))


def _break_ljspeech(root: Path, kind: str) -> tuple[str, str]:
    """Damage a fresh LJSpeech corpus one way; returns (reason, file named in the error)."""
    meta = root / "metadata.csv"
    wav = root / "wavs" / "LJ002.wav"
    if kind == "fields":
        meta.write_text(meta.read_text() + "LJ009|a|b|c\n")
        return "malformed line", "metadata.csv:4"
    if kind == "empty text":
        meta.write_text(meta.read_text() + "LJ009| |\n")
        return "empty text", "metadata.csv:4"
    if kind == "duplicate":
        meta.write_text(meta.read_text() + "LJ001|again\n")
        return "duplicate id", "metadata.csv:4"
    if kind == "missing":
        wav.unlink()
        return "missing file", "metadata.csv:2"
    if kind == "zero bytes":
        wav.write_bytes(b"")
        return "empty file", "metadata.csv:2"
    if kind == "corrupt":
        wav.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
        return "unreadable audio", "metadata.csv:2"
    if kind == "wrong format":
        wav.write_text("this is a text file, not audio\n" * 20)
        return "unreadable audio", "metadata.csv:2"
    if kind == "too short":
        write_wav(wav, 0.2)
        return "too short", "metadata.csv:2"
    assert kind == "too long"
    write_wav(wav, 3.5)
    return "too long", "metadata.csv:2"


BAD_KINDS = [
    "fields",
    "empty text",
    "duplicate",
    "missing",
    "zero bytes",
    "corrupt",
    "wrong format",
    "too short",
    "too long",
]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_sample_error_names_file_and_line(tmp_path: Path, kind: str) -> None:
    root = make_ljspeech(tmp_path / "lj")
    reason, where = _break_ljspeech(root, kind)
    with pytest.raises(BadSampleError) as caught:
        load_corpus(data(root, max_duration=3.0))
    message = str(caught.value)
    assert where in message
    assert reason in message
    if kind not in ("fields", "empty text", "duplicate"):
        assert "LJ002.wav" in message


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_skip_mode_counts_each_bad_kind(tmp_path: Path, kind: str) -> None:
    root = make_ljspeech(tmp_path / "lj")
    reason, _ = _break_ljspeech(root, kind)
    corpus = load_corpus(data(root, max_duration=3.0, on_bad_sample="skip"))
    assert corpus.report.counts() == {reason: 1}
    expected = 3 if kind in ("fields", "empty text", "duplicate") else 2
    assert len(corpus.utterances) == expected == corpus.report.utterances
    assert corpus.report.examples()[reason][0].where.endswith(_break_where(kind))


def _break_where(kind: str) -> str:
    return "metadata.csv:4" if kind in ("fields", "empty text", "duplicate") else "metadata.csv:2"


@pytest.mark.parametrize(
    ("line", "reason", "detail"),
    [
        ('{"audio_filepath": "audio/a.wav", "text": "x"', "malformed line", "invalid JSON"),
        ('["audio/a.wav", "x"]', "malformed line", "expected a JSON object"),
        ('{"audio_filepath": "audio/a.wav"}', "missing field", "'text'"),
        ('{"text": "hello"}', "missing field", "'audio_filepath'"),
        ('{"audio_filepath": "audio/a.wav", "text": 5}', "malformed line", "'text' must be str"),
        ('{"audio_filepath": "audio/a.wav", "text": "  "}', "empty text", ""),
        ('{"audio_filepath": "audio/none.wav", "text": "x"}', "missing file", "not found"),
    ],
)
def test_manifest_bad_lines(tmp_path: Path, line: str, reason: str, detail: str) -> None:
    root = make_manifest(tmp_path / "m")
    manifest = root / "manifest.jsonl"
    manifest.write_text(manifest.read_text() + "\n" + line + "\n")  # a blank line, then line 5
    with pytest.raises(BadSampleError, match=rf"manifest\.jsonl:5.*{reason}.*{detail}"):
        load_corpus(data(root))
    report = load_corpus(data(root, on_bad_sample="skip")).report
    assert report.counts() == {reason: 1}
    assert report.utterances == 3


def test_folder_audio_without_transcript_is_reported(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "f")
    write_wav(root / "bob" / "orphan.wav")
    (root / "bob" / "lonely.txt").write_text("no audio for me")
    report = load_corpus(data(root, on_bad_sample="skip")).report
    assert report.counts() == {"missing transcript": 1, "missing file": 1}
    named = {str(s) for s in report.bad}
    assert any("orphan.wav" in s for s in named) and any("lonely.txt" in s for s in named)


def test_skip_report_keeps_examples_per_reason(tmp_path: Path) -> None:
    root = make_ljspeech(tmp_path / "lj")
    extra = [f"LJ1{i:02d}|missing audio {i}" for i in range(5)]
    (root / "metadata.csv").write_text((root / "metadata.csv").read_text() + "\n".join(extra))
    report = load_corpus(data(root, on_bad_sample="skip")).report
    assert report.counts() == {"missing file": 5}
    assert [s.line for s in report.examples(per_reason=2)["missing file"]] == [4, 5]
    assert report.to_dict()["bad"] == {"missing file": 5}


def test_validation_reads_headers_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("validation decoded audio")

    monkeypatch.setattr("autovoice.audio.io.read_audio", no_decoding)
    monkeypatch.setattr("soundfile.read", no_decoding)
    corpus = scan_corpus(data(make_ljspeech(tmp_path / "lj")))
    assert len(corpus.utterances) == 3


def test_no_usable_utterances_is_an_error(tmp_path: Path) -> None:
    root = make_ljspeech(tmp_path / "lj", ["LJ001|x", "LJ002|y"])
    with pytest.raises(CorpusError, match="no usable utterances"):
        load_corpus(data(root, min_duration=5.0, max_duration=10.0, on_bad_sample="skip"))
