"""``autovoice synthesize`` as a command line: text from stdin, audio to stdout (WAV or raw PCM),
formats by extension, the speech flags, ``--voice default`` and one-line warnings.

Every test speaks short texts with the shipped default voice on ONNX Runtime.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from autovoice.audio.io import writable_extensions
from autovoice.bundle import default_voice_path
from autovoice.cli import main

pytest.importorskip("onnxruntime")

VOICE = ("--voice", "default", "--backend", "onnxruntime")
RATE = 22050
TEXT = "Hello there."
TWO = "Hello there. How are you?"


@pytest.fixture(autouse=True)
def shipped_voice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOVOICE_VOICE", raising=False)
    if default_voice_path() is None:
        pytest.skip("no shipped default voice in this checkout")


def speak(capsys: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, bytes, str]:
    """``autovoice synthesize ARGS`` in this process: exit code, stdout bytes, stderr text."""
    code = main(["synthesize", *args, *VOICE])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.decode()


def frames(path: Path) -> np.ndarray:
    wave, rate = sf.read(path, dtype="int16")
    assert rate == RATE
    return np.asarray(wave)


def cli(*args: str, **environ: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m autovoice synthesize ARGS`` with ``environ`` added to the environment (and
    neither ``AUTOVOICE_VOICE`` nor ``CUDA_VISIBLE_DEVICES`` passed on)."""
    hidden = ("AUTOVOICE_VOICE", "CUDA_VISIBLE_DEVICES")
    env = {k: v for k, v in os.environ.items() if k not in hidden} | environ
    command = [sys.executable, "-m", "autovoice", "synthesize", *args, *VOICE]
    return subprocess.run(command, capture_output=True, env=env, timeout=120)


# -- standard output ---------------------------------------------------------------------------


def test_dash_o_writes_a_wav_file_and_nothing_else_on_stdout() -> None:
    done = cli(TEXT, "-o", "-", "--verbose")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.startswith(b"RIFF")
    wave, rate = sf.read(io.BytesIO(done.stdout), dtype="float32")
    assert rate == RATE and wave.ndim == 1
    assert len(done.stdout) == 44 + 2 * wave.size  # the header and the samples, nothing more
    assert 0.3 < wave.size / rate < 5 and float(np.sqrt(np.mean(wave**2))) > 1e-3
    assert "acoustic: onnxruntime" in done.stderr.decode()  # the report went to stderr


def test_raw_output_is_the_wav_samples_as_16_bit_little_endian(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    out = tmp_path / "same.wav"
    assert speak(capsysbinary, TWO, "-o", str(out))[0] == 0
    code, raw, err = speak(capsysbinary, TWO, "--output-raw", "--verbose")
    assert code == 0 and f"{RATE} Hz, 16-bit signed little-endian" in err
    expected = frames(out)
    assert len(raw) == 2 * expected.size
    np.testing.assert_array_equal(np.frombuffer(raw, "<i2"), expected)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
@pytest.mark.parametrize(
    ("output", "sox_input"),
    [
        (("-o", "-"), ("-t", "wav")),
        (("--output-raw",), ("-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1")),
    ],
    ids=["wav", "raw"],
)
def test_sox_reads_the_stream_from_a_pipe(
    output: tuple[str, ...], sox_input: tuple[str, ...]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AUTOVOICE_VOICE"}
    command = [sys.executable, "-m", "autovoice", "synthesize", TEXT, *output, *VOICE]
    speaker = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    sox = subprocess.run(
        ["sox", *sox_input, "-", "-n", "stat"], stdin=speaker.stdout, capture_output=True
    )
    assert speaker.wait(timeout=120) == 0 and sox.returncode == 0, sox.stderr
    stats = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in sox.stderr.decode().splitlines())
    )
    assert 0.3 < float(stats["Length (seconds)"]) < 5 and float(stats["RMS     amplitude"]) > 1e-3


def test_a_reader_that_goes_away_ends_the_command_quietly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class ClosedPipe(io.BytesIO):
        def write(self, data: object) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    class Stdout(io.StringIO):
        buffer = ClosedPipe()

    monkeypatch.setattr("sys.stdout", Stdout())
    assert main(["synthesize", TEXT, "--output-raw", *VOICE]) == 141
    assert capsys.readouterr().err == ""


def test_a_terminal_or_per_line_files_cannot_take_the_wav_stream(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    code, out, err = speak(capsysbinary, "One.\nTwo.", "-o", "-", "--per-line")
    assert code == 1 and out == b"" and "--output-raw" in err


# -- standard input ----------------------------------------------------------------------------


@pytest.mark.parametrize("dash", [(), ("-",)], ids=["no-text", "dash"])
def test_text_comes_from_stdin(
    dash: tuple[str, ...],
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert speak(capsysbinary, TEXT, "-o", str(tmp_path / "arg.wav"))[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(TEXT + "\n"))
    assert speak(capsysbinary, *dash, "-o", str(tmp_path / "stdin.wav"))[0] == 0
    np.testing.assert_array_equal(frames(tmp_path / "stdin.wav"), frames(tmp_path / "arg.wav"))


def test_lines_make_one_file_unless_per_line(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = "First line.\n\nSecond one here.\nThird!\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert speak(capsysbinary, "-o", str(tmp_path / "all.wav"))[0] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["all.wav"]
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    code, out, _ = speak(capsysbinary, "-", "--per-line", "-o", str(tmp_path / "line.wav"))
    assert code == 0
    names = ["line-0001.wav", "line-0002.wav", "line-0003.wav"]
    assert sorted(p.name for p in tmp_path.glob("line*")) == names
    assert out.decode().splitlines()[0].startswith(str(tmp_path / names[0]))
    one = sum(frames(tmp_path / name).size for name in names)
    assert frames(tmp_path / "all.wav").size > one  # the pauses between sentences


def test_raw_per_line_streams_each_line(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = "First line.\nSecond one.\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    one_by_one = ("--per-line", "--batch-size", "1")  # as the stream goes: no batch rounding
    assert speak(capsysbinary, *one_by_one, "-o", str(tmp_path / "l.wav"))[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    code, raw, _ = speak(capsysbinary, "--per-line", "--output-raw")
    assert code == 0
    files = [frames(tmp_path / f"l-000{i}.wav") for i in (1, 2)]
    np.testing.assert_array_equal(np.frombuffer(raw, "<i2"), np.concatenate(files))


@pytest.mark.parametrize("text", ["", "  \n\n \n"])
def test_empty_input_is_a_clear_error(
    text: str, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, err = speak(capsysbinary, "--output-raw")
    assert code == 1 and out == b""
    assert err.strip() == (
        "autovoice: error: standard input: no text in it; give TEXT, --file PATH, "
        "or text on standard input"
    )


# -- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".flac", ".ogg", ".mp3"])
def test_formats_by_extension_round_trip(
    extension: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    if extension not in writable_extensions():
        pytest.skip(f"this libsndfile writes no {extension}")
    assert speak(capsysbinary, TEXT, "-o", str(tmp_path / "ref.wav"))[0] == 0
    assert speak(capsysbinary, TEXT, "-o", str(tmp_path / f"out{extension}"))[0] == 0
    reference = frames(tmp_path / "ref.wav").astype(np.float32) / 32768
    wave, rate = sf.read(tmp_path / f"out{extension}", dtype="float32")
    assert rate == RATE and float(np.sqrt(np.mean(wave**2))) > 1e-3
    if extension == ".flac":  # lossless, but for libsndfile's own rounding of floats to 16 bits
        assert wave.size == reference.size and np.abs(wave - reference).max() <= 1 / 32768
    else:  # lossy codecs may pad the start and the end
        assert abs(wave.size - reference.size) < 0.1 * RATE


def test_an_unknown_extension_is_refused_before_synthesis(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from autovoice.inference import VoiceInferenceEngine

    def no_synthesis(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the voice was opened before the output was checked")

    monkeypatch.setattr(VoiceInferenceEngine, "from_config", no_synthesis)
    code, _, err = speak(capsysbinary, TEXT, "-o", str(tmp_path / "out.xyz"))
    assert code == 1 and "Traceback" not in err
    assert err.startswith(f"autovoice: error: {tmp_path / 'out.xyz'}: cannot write '.xyz' files")
    assert ".wav, .flac, .ogg" in err and not (tmp_path / "out.xyz").exists()


# -- speech flags ------------------------------------------------------------------------------


def test_max_chars_error_says_how_to_raise_the_limit(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, _, err = speak(capsysbinary, TWO, "-o", str(tmp_path / "x.wav"), "--max-chars", "10")
    assert code == 1 and "more than the limit of 10" in err
    assert "--max-chars N" in err and "max_chars=N" in err
    assert speak(capsysbinary, TWO, "-o", str(tmp_path / "x.wav"), "--max-chars", "30")[0] == 0


def test_length_scale_slows_speech_down(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    lengths = {}
    for scale in ("1.0", "1.5"):
        out = tmp_path / f"{scale}.wav"
        assert speak(capsysbinary, TEXT, "-o", str(out), "--length-scale", scale)[0] == 0
        lengths[scale] = frames(out).size
    assert 1.3 < lengths["1.5"] / lengths["1.0"] < 1.7
    with pytest.raises(SystemExit):  # --pace and --length-scale are one setting
        main(["synthesize", TEXT, "-o", "x.wav", "--pace", "1", "--length-scale", "1"])


def test_sentence_silence_adds_that_much_between_two_sentences(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    lengths = {}
    for seconds in ("0", "0.5"):
        out = tmp_path / f"{seconds}.wav"
        assert speak(capsysbinary, TWO, "-o", str(out), "--sentence-silence", seconds)[0] == 0
        lengths[seconds] = frames(out).size
    assert lengths["0.5"] - lengths["0"] == round(0.5 * RATE)


# -- the default voice, devices ----------------------------------------------------------------


def test_info_default_names_the_shipped_voice(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "default", "--no-verify"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("bundle") and str(default_voice_path()) in first


GPU_NODES = any(Path("/dev").glob("nvidia[0-9]*")) or Path("/dev/dxg").exists()


@pytest.mark.parametrize(
    ("environ", "why"),
    [
        pytest.param({}, "this machine has no GPU", id="no-gpu", marks=pytest.mark.skipif(
            GPU_NODES, reason="this machine has a GPU"
        )),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, "CUDA_VISIBLE_DEVICES hides every GPU"),
    ],
)  # fmt: skip
def test_cuda_without_a_gpu_warns_in_one_line(
    environ: dict[str, str], why: str, tmp_path: Path
) -> None:
    done = cli(TEXT, "-o", str(tmp_path / "cpu.wav"), "--device", "cuda", "--verbose", **environ)
    assert done.returncode == 0 and (tmp_path / "cpu.wav").is_file()
    assert done.stderr.decode().splitlines() == [
        f"autovoice: warning: device 'cuda' asked for, but {why}: running on the CPU"
    ]
    assert "acoustic: onnxruntime (onnx on cpu)" in done.stdout.decode()
