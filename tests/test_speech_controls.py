"""Speech controls on the shipped (trained) voice, each with the effect it names: pace on the
duration, pitch shift on the mean f0 (in semitones), energy scale on the RMS; defaults leave the
audio as the voice made it before controls existed (both voices as this repository shipped
them, from its git history); a voice without them names the argument."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autovoice.audio.pitch import estimate_pitch
from autovoice.inference import InferenceError, VoiceInferenceEngine
from autovoice.signature import CONTROLS
from tests._history import BEFORE_CONTROLS, WITH_CONTROLS, voice_at

TEXT = "The quick brown fox jumps over the lazy dog, and runs far away into the green forest."


@pytest.fixture(scope="module")
def engine() -> VoiceInferenceEngine:
    pytest.importorskip("onnxruntime")
    engine = VoiceInferenceEngine(None, backend="onnxruntime", threads=1)
    if not set(CONTROLS) <= set(engine.bundle.stage("acoustic").signature.input_names):
        pytest.skip("the installed default voice takes no speech controls")
    return engine


def semitones_above(wave: np.ndarray, base: np.ndarray, rate: int) -> float:
    def mean_log_f0(audio: np.ndarray) -> float:
        f0 = estimate_pitch(audio, sample_rate=rate, hop_length=256, n_frames=len(audio) // 256)
        return float(np.mean(np.log(f0[f0 > 0])))

    return float(12 * (mean_log_f0(wave) - mean_log_f0(base)) / np.log(2))


def shipped_voice(commit: str, dest: Path) -> Path:
    found = voice_at(commit, dest)
    if found is None:
        pytest.skip(f"the default voice as of commit {commit} needs this checkout's git history")
    return found


def rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))


@pytest.mark.parametrize("pace", [0.5, 0.8, 1.25, 2.0])
def test_pace_divides_the_duration(engine: VoiceInferenceEngine, pace: float) -> None:
    base = engine.synthesize_speech(TEXT)
    faster = engine.synthesize_speech(TEXT, pace=pace)
    assert len(faster) / len(base) == pytest.approx(1 / pace, rel=0.02)


@pytest.mark.parametrize("shift", [-3.0, 3.0, 6.0])
def test_pitch_shift_moves_the_mean_f0_by_about_its_semitones(
    engine: VoiceInferenceEngine, shift: float
) -> None:
    base = engine.synthesize_speech(TEXT)
    shifted = engine.synthesize_speech(TEXT, pitch_shift=shift)
    assert len(shifted) == len(base)  # pitch leaves the timing alone
    moved = semitones_above(shifted, base, engine.sample_rate)
    assert moved == pytest.approx(shift, abs=max(1.0, 0.25 * abs(shift)))


@pytest.mark.parametrize("scale", [0.5, 0.7, 1.5])
def test_energy_scale_scales_the_rms(engine: VoiceInferenceEngine, scale: float) -> None:
    base = engine.synthesize_speech(TEXT)
    scaled = engine.synthesize_speech(TEXT, energy_scale=scale)
    assert rms(scaled) / rms(base) == pytest.approx(scale, rel=0.15)
    assert abs(semitones_above(scaled, base, engine.sample_rate)) < 0.5


def test_the_cli_takes_the_controls(tmp_path: Path, engine: VoiceInferenceEngine) -> None:
    import soundfile  # type: ignore[import-untyped]

    from autovoice.cli import main

    out = tmp_path / "out.wav"
    flags = ["--pitch-shift", "3", "--energy-scale", "0.5", "--length-scale", "1.25"]
    assert main(["synthesize", TEXT, "-o", str(out), *flags]) == 0
    wave, _ = soundfile.read(out, dtype="float32")
    expected = engine.synthesize_speech(TEXT, pace=0.8, pitch_shift=3, energy_scale=0.5)
    np.testing.assert_allclose(wave, expected, atol=2 / 32768)  # 16-bit WAV
    with pytest.raises(SystemExit):  # argparse: a usage error naming the flag
        main(["synthesize", TEXT, "-o", str(out), "--pitch-shift", "40"])


def test_a_voice_without_controls_names_the_argument(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    old = shipped_voice(BEFORE_CONTROLS, tmp_path / "old")
    engine = VoiceInferenceEngine(old, backend="onnxruntime")
    assert not set(CONTROLS) & set(engine.bundle.stage("acoustic").signature.input_names)
    with pytest.raises(InferenceError, match=r"pitch_shift: .*exported before speech controls"):
        engine.synthesize_speech("Hello.", pitch_shift=2.0)
    with pytest.raises(InferenceError, match=r"energy_scale: .*exported before speech contr"):
        engine.synthesize_speech("Hello.", energy_scale=1.5)
    assert engine.synthesize_speech("Hello.", pace=1.2).size > 0


def test_default_controls_leave_the_previous_voice_s_audio_unchanged(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    before_path = shipped_voice(BEFORE_CONTROLS, tmp_path / "before")
    after_path = shipped_voice(WITH_CONTROLS, tmp_path / "after")
    before = VoiceInferenceEngine(before_path, backend="onnxruntime", threads=1)
    after = VoiceInferenceEngine(after_path, backend="onnxruntime", threads=1)
    assert "durations" not in before.bundle.stage("acoustic").signature.output_names
    assert set(CONTROLS) <= set(after.bundle.stage("acoustic").signature.input_names)
    texts = [TEXT, "Dr. Smith paid $5.20 on Jan. 5, 2021. Was it late?"]
    for pace in (1.0, 0.8, 1.3):
        for text in texts:
            np.testing.assert_array_equal(
                after.synthesize_speech(text, pace=pace), before.synthesize_speech(text, pace=pace)
            )
    for shipped in ("vocoder.onnx", "vocoder.safetensors"):
        assert (after_path / shipped).read_bytes() == (before_path / shipped).read_bytes()


def test_a_misspelled_control_is_refused_by_its_name(engine: VoiceInferenceEngine) -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'pich_shift'.*pitch_shift"):
        engine.synthesize_speech(TEXT, pich_shift=2.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"'energy'"):
        list(engine.synthesize_stream(TEXT, energy=2.0))  # type: ignore[call-arg]
    with pytest.raises(InferenceError, match=r"pitch_shift must be between -12.0 and 12.0"):
        engine.synthesize_timed(TEXT, pitch_shift=13.0)
