"""Audio that a header check lets through: NaN or infinite samples, a truncated file, digital
silence, a file whose contents are not the format its name says. ``corpus check`` names each by
file and line; training skips them with a logged reason (``skip``) or stops naming them
(``error``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from autovoice.audio.io import scan_audio, wav_missing_bytes
from autovoice.cli import main
from autovoice.config import DataConfig
from autovoice.data.reader import load_corpus, scan_corpus
from autovoice.data.records import (
    MISNAMED_FORMAT,
    NON_FINITE_AUDIO,
    SILENT_AUDIO,
    TRUNCATED_AUDIO,
    UNREADABLE_AUDIO,
    BadSampleError,
)

RATE = 16000
GOOD = 6


def tone(seconds: float = 1.0, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def with_value(value: float) -> np.ndarray:
    wave = tone()
    wave[RATE // 2] = value
    return wave


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def write_fault(path: Path, fault: str) -> None:
    """Write the audio file ``path`` with ``fault``."""
    if fault == "nan":
        sf.write(path, with_value(np.nan), RATE, subtype="FLOAT")
    elif fault == "inf":
        sf.write(path, with_value(-np.inf), RATE, subtype="FLOAT")
    elif fault == "truncated-wav":
        sf.write(path, tone(2.0), RATE)
        truncate(path)
    elif fault == "truncated-flac":
        sf.write(path, tone(2.0), RATE, format="FLAC")
        truncate(path)
    elif fault == "silent":
        sf.write(path, np.zeros(RATE, np.float32), RATE)
    elif fault == "flac-named-wav":
        sf.write(path, tone(), RATE, format="FLAC")
    else:
        raise ValueError(fault)


#: fault -> (the reason it is rejected for, words of the detail)
FAULTS = {
    "nan": (NON_FINITE_AUDIO, "NaN or infinite"),
    "inf": (NON_FINITE_AUDIO, "NaN or infinite"),
    "truncated-wav": (TRUNCATED_AUDIO, "header declares"),
    "truncated-flac": (UNREADABLE_AUDIO, ""),
    "silent": (SILENT_AUDIO, "dBFS"),
    "flac-named-wav": (MISNAMED_FORMAT, "FLAC"),
}


def make_corpus(root: Path, faults: list[str]) -> Path:
    """A manifest of GOOD tones, then one line per fault (line GOOD + 1 onwards)."""
    (root / "wavs").mkdir(parents=True)
    records = []
    for i in range(GOOD):
        sf.write(root / "wavs" / f"ok{i}.wav", tone(1.0 + 0.1 * i, 200.0 + 20 * i), RATE)
        records.append({"audio_filepath": f"wavs/ok{i}.wav", "text": f"good line number {i}"})
    for fault in faults:
        write_fault(root / "wavs" / f"{fault}.wav", fault)
        records.append({"audio_filepath": f"wavs/{fault}.wav", "text": f"the {fault} one"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return root


def data(root: Path, **kw: Any) -> DataConfig:
    return DataConfig(corpus=str(root), **kw)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_is_a_bad_sample_named_by_file_and_line(tmp_path: Path, fault: str) -> None:
    root = make_corpus(tmp_path / "c", [fault])
    report = scan_corpus(data(root)).report
    assert report.utterances == GOOD
    [bad] = report.bad
    reason, words = FAULTS[fault]
    assert bad.reason == reason
    assert bad.source == str(root / "manifest.jsonl") and bad.line == GOOD + 1
    assert bad.audio_path == str(root / "wavs" / f"{fault}.wav")
    assert words in str(bad)


def test_corpus_check_finds_every_fault(tmp_path: Path, capsys: Any) -> None:
    root = make_corpus(tmp_path / "c", list(FAULTS))
    assert main(["corpus", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"utterances: {GOOD}," in out and f"bad samples: {len(FAULTS)}" in out
    for line, fault in enumerate(FAULTS, start=GOOD + 1):
        assert f"manifest.jsonl:{line} ({root / 'wavs' / fault}.wav): {FAULTS[fault][0]}" in out
    assert main(["corpus", "check", str(root), "--json"]) == 1
    counts = json.loads(capsys.readouterr().out)["bad"]
    assert counts == {
        NON_FINITE_AUDIO: 2,
        TRUNCATED_AUDIO: 1,
        UNREADABLE_AUDIO: 1,
        SILENT_AUDIO: 1,
        MISNAMED_FORMAT: 1,
    }


def test_skip_leaves_them_out_and_error_names_them(tmp_path: Path) -> None:
    root = make_corpus(tmp_path / "c", list(FAULTS))
    kept = load_corpus(data(root, on_bad_sample="skip")).utterances
    assert sorted(Path(u.audio_path).name for u in kept) == [f"ok{i}.wav" for i in range(GOOD)]
    with pytest.raises(BadSampleError) as caught:
        load_corpus(data(root))
    message = str(caught.value)
    for line in range(GOOD + 1, GOOD + 1 + len(FAULTS)):
        assert f"manifest.jsonl:{line} " in message


def test_a_whole_wav_is_not_called_truncated(tmp_path: Path) -> None:
    wave = tone(1.01)
    for subtype in ("PCM_16", "PCM_24", "FLOAT"):
        path = tmp_path / f"{subtype}.wav"
        sf.write(path, wave[:-1], RATE, subtype=subtype)  # an odd byte count for PCM_24
        scan = scan_audio(path)
        assert (scan.missing_bytes, scan.decoded_frames) == (0, len(wave) - 1)
    odd = tmp_path / "PCM_24.wav"
    with odd.open("ab") as file:
        file.write(b"\0LIST\x04\x00\x00\x00abcd")  # pad byte, then a chunk after the data
    assert wav_missing_bytes(odd) == 0


def test_a_cut_wav_lacks_the_bytes_it_was_cut_by(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    sf.write(path, tone(1.0), RATE)
    whole = path.read_bytes()
    path.write_bytes(whole[:-1000])
    assert wav_missing_bytes(path) == 1000
    scan = scan_audio(path)
    assert scan.missing_bytes == 1000 and scan.decoded_frames == RATE - 500


def test_a_wav_of_open_length_is_not_called_truncated(tmp_path: Path) -> None:
    path = tmp_path / "stream.wav"
    sf.write(path, tone(0.5), RATE)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data") + 4
    raw[at : at + 4] = b"\xff\xff\xff\xff"  # a streamed WAV: the length was unknown
    path.write_bytes(bytes(raw))
    assert wav_missing_bytes(path) == 0


def test_scan_counts_non_finite_samples_and_the_finite_peak(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    wave = with_value(np.nan)
    wave[10] = np.inf
    sf.write(path, wave, RATE, subtype="FLOAT")
    scan = scan_audio(path)
    assert scan.non_finite == 2 and scan.format == "WAV"
    assert scan.peak == pytest.approx(float(np.nanmax(np.abs(tone()))))


TRAIN = """
[data]
corpus = "{corpus}"
min_duration = 0.1
val_fraction = 0.2
on_bad_sample = "{policy}"

[data.options]
segment_size = 0

[model.options]
preset = "tiny"

[training]
output_dir = "{out}"
batch_size = 2
max_steps = 1
val_every = 100
checkpoint_every = 100
device = "cpu"
"""


@pytest.mark.slow
def test_training_skips_or_stops_on_them(tmp_path: Path, capsys: Any, caplog: Any) -> None:
    root = make_corpus(tmp_path / "c", list(FAULTS))
    for policy in ("skip", "error"):
        toml = tmp_path / f"{policy}.toml"
        toml.write_text(TRAIN.format(corpus=root, policy=policy, out=tmp_path / policy))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            code = main(["train", str(toml), "--quiet", "--stage", "acoustic"])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if policy == "skip":
            assert code == 0, err
            logged = caplog.text
        else:
            assert code != 0
            logged = err
        for line, fault in enumerate(FAULTS, start=GOOD + 1):
            assert f"manifest.jsonl:{line} ({root / 'wavs' / fault}.wav)" in logged, fault


def test_a_file_spoilt_after_the_check_is_named_by_its_line(tmp_path: Path) -> None:
    from autovoice.config import AudioConfig
    from autovoice.data.loading import FeatureSource
    from autovoice.data.records import CorpusError

    root = make_corpus(tmp_path / "c", [])
    utt = load_corpus(data(root)).utterances[2]
    write_fault(Path(utt.audio_path), "nan")
    with pytest.raises(CorpusError) as caught:
        FeatureSource.create(AudioConfig()).wave(utt)
    assert str(caught.value) == (
        f"{root / 'manifest.jsonl'}:3 ({utt.audio_path}): 1 samples are NaN or infinite"
    )
