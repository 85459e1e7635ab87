"""The demo corpus (autovoice.corpus): layout, pairing, durations, determinism, errors, command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from autovoice.commands import corpus as corpus_command
from autovoice.corpus import (
    CorpusError,
    DemoCorpusReport,
    choose_variants,
    demo_speakers,
    load_sentences,
    make_demo_corpus,
)
from autovoice.text import normalize_text

SENTENCES = 5
SPEAKERS = 2
SR = 16000  # not eSpeak's own rate, so resampling is exercised


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoCorpusReport]:
    out = tmp_path_factory.mktemp("demo") / "corpus"
    report = make_demo_corpus(
        out, speakers=SPEAKERS, sentences=SENTENCES, seed=3, sample_rate=SR, workers=2
    )
    return out, report


def read_manifest(folder: Path) -> list[dict[str, object]]:
    lines = (folder / "manifest.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_sentences_file_is_large_varied_and_clean() -> None:
    sentences = load_sentences()
    assert len(set(sentences)) == len(sentences) >= 300
    assert all("|" not in line for line in sentences)
    lengths = [len(line.split()) for line in sentences]
    assert min(lengths) >= 3 and max(lengths) <= 25 and max(lengths) >= 18
    assert sum(line.endswith("?") for line in sentences) >= 20
    assert sum(line.endswith("!") for line in sentences) >= 20
    assert sum(any(c.isdigit() for c in line) for line in sentences) >= 40


def test_report_and_layout(made: tuple[Path, DemoCorpusReport]) -> None:
    out, report = made
    assert report.out_dir == out
    assert (report.speakers, report.utterances) == (SPEAKERS, SENTENCES * SPEAKERS)
    assert report.seconds > 0
    for name in ("metadata.csv", "manifest.jsonl", "speakers.json", "README.txt"):
        assert (out / name).is_file(), name
    assert len(list((out / "wavs").glob("*.wav"))) == SENTENCES * SPEAKERS


def test_metadata_is_ljspeech(made: tuple[Path, DemoCorpusReport]) -> None:
    out, _ = made
    lines = (out / "metadata.csv").read_text("utf-8").splitlines()
    assert len(lines) == SENTENCES * SPEAKERS
    rows = [line.split("|") for line in lines]
    assert all(len(row) == 3 for row in rows)
    assert rows[0][0] == "spk00_0001" and rows[-1][0] == f"spk01_{SENTENCES:04d}"
    for utterance_id, raw, normalized in rows:
        assert (out / "wavs" / f"{utterance_id}.wav").is_file()
        assert normalized == normalize_text(raw, language="en")


def test_manifest_durations_match_the_audio(made: tuple[Path, DemoCorpusReport]) -> None:
    out, report = made
    entries = read_manifest(out)
    assert len(entries) == SENTENCES * SPEAKERS
    total = 0.0
    for entry in entries:
        assert set(entry) == {"audio_filepath", "text", "speaker", "duration"}
        info = sf.info(str(out / str(entry["audio_filepath"])))
        assert info.samplerate == SR and info.channels == 1 and info.subtype == "PCM_16"
        assert entry["duration"] == pytest.approx(info.frames / SR, abs=1e-5)
        total += info.frames / SR
    assert report.hours == pytest.approx(total / 3600, rel=1e-6)


def test_every_sentence_is_spoken_by_every_speaker(made: tuple[Path, DemoCorpusReport]) -> None:
    out, _ = made
    expected = [normalize_text(line, language="en") for line in load_sentences()[:SENTENCES]]
    by_speaker: dict[str, list[object]] = {}
    for entry in read_manifest(out):
        by_speaker.setdefault(str(entry["speaker"]), []).append(entry["text"])
    assert sorted(by_speaker) == ["spk00", "spk01"]
    assert all(texts == expected for texts in by_speaker.values())


def test_audio_is_speech_without_long_edges(made: tuple[Path, DemoCorpusReport]) -> None:
    out, _ = made
    for path in sorted((out / "wavs").glob("*.wav")):
        wave, _ = sf.read(str(path), dtype="float32")
        assert 0.5 < np.abs(wave).max() < 0.95  # scaled to a common peak, never clipped
        loud = np.flatnonzero(np.abs(wave) > 0.02)
        assert loud[0] < 0.1 * SR and wave.size - loud[-1] < 0.1 * SR, path.name


def test_speakers_file_describes_distinct_voices(made: tuple[Path, DemoCorpusReport]) -> None:
    out, _ = made
    speakers = json.loads((out / "speakers.json").read_text("utf-8"))
    assert sorted(speakers) == ["0", "1"]
    assert speakers["0"]["name"] == "spk00" and speakers["0"]["voice"] == "en-us+klatt"
    assert speakers["1"]["voice"] == "en-us+klatt2"
    assert {"rate", "pitch", "pitch_range"} <= set(speakers["0"])
    first = sf.read(str(out / "wavs" / "spk00_0001.wav"))[0]
    second = sf.read(str(out / "wavs" / "spk01_0001.wav"))[0]
    assert first.shape != second.shape or not np.array_equal(first, second)


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    # 8 speakers: the klatt family and two voices of eSpeak's other synthesizer (f2, m6)
    first, second = tmp_path / "first", tmp_path / "second"
    make_demo_corpus(first, speakers=8, sentences=3, seed=5, sample_rate=SR, workers=2)
    make_demo_corpus(second, speakers=8, sentences=3, seed=5, sample_rate=SR, workers=1)
    voices = [s["voice"] for s in json.loads((first / "speakers.json").read_text()).values()]
    assert voices[-2:] == ["en-us+f2", "en-us+m6"]
    names = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(names) == 4 + 8 * 3
    assert names == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_seed_changes_the_speakers() -> None:
    variants = ["klatt", "klatt2", "klatt3"]
    same = demo_speakers(variants, np.random.default_rng(0))
    assert same == demo_speakers(variants, np.random.default_rng(0))
    assert same != demo_speakers(variants, np.random.default_rng(1))
    assert [s.voice for s in same] == ["en-us+klatt", "en-us+klatt2", "en-us+klatt3"]


def test_variant_preference() -> None:
    available = ["m6", "klatt3", "f2", "klatt", "zed", "klatt10", "Mr serious", "klatt2", "a1"]
    assert choose_variants(available, 6) == ["klatt", "klatt2", "klatt3", "klatt10", "f2", "m6"]
    assert choose_variants(available, 8) == [*choose_variants(available, 6), "a1", "zed"]
    with pytest.raises(CorpusError, match="speakers must be between 1 and 8"):
        choose_variants(available, 9)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"speakers": 0}, "speakers must be"),
        ({"sentences": 0}, "sentences must be"),
        ({"sentences": 100_000}, "sentences must be"),
        ({"sample_rate": 0}, "sample_rate must be"),
        ({"workers": 0}, "workers must be"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, arguments: dict[str, int], message: str) -> None:
    with pytest.raises(CorpusError, match=message):
        make_demo_corpus(tmp_path / "out", **arguments)


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(CorpusError, match="not empty"):
        make_demo_corpus(tmp_path, sentences=1, speakers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_command_makes_a_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    corpus_command.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli"
    args = parser.parse_args(
        ["corpus", "demo", str(out), "--speakers", "1", "--sentences", "2", "--sample-rate", "8000"]
    )
    assert args.func(args) == 0
    summary = capsys.readouterr().out.strip()
    assert summary.startswith(str(out)) and "2 utterances, 1 speakers" in summary
    assert sf.info(str(out / "wavs" / "spk00_0002.wav")).samplerate == 8000
