"""Audio files in and out (autovoice.audio.io) and waveform processing (autovoice.audio.process)."""

from __future__ import annotations

import math
from pathlib import Path

import attrs
import numpy as np
import pytest
import soundfile as sf

from autovoice.audio import (
    AudioFileError,
    AudioValueError,
    audio_info,
    loudness_normalize,
    peak_normalize,
    prepare_waveform,
    read_audio,
    resample,
    rms_dbfs,
    to_mono,
    trim_silence,
    write_audio,
)
from autovoice.config.schema import AudioConfig

SR = 16000


def tone(freq: float, seconds: float, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wave: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return float(np.fft.rfftfreq(wave.size, 1 / sr)[int(np.argmax(spectrum))])


# --- files ---------------------------------------------------------------------------------------


def test_write_then_read_round_trips_within_16_bit_quantization(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    wave = (0.4 * rng.standard_normal(3000)).clip(-1, 1).astype(np.float32)
    path = tmp_path / "deep" / "folder" / "a.wav"
    write_audio(path, wave, SR)
    back, sr = read_audio(path)
    assert sr == SR
    assert back.dtype == np.float32 and back.shape == wave.shape
    assert np.max(np.abs(back - wave)) <= 1.0 / 32768 + 1e-7
    assert sf.info(str(path)).subtype == "PCM_16"


def test_write_clips_to_full_scale_and_honours_subtype(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    write_audio(path, np.array([2.0, -3.0, 0.25], dtype=np.float32), SR, subtype="FLOAT")
    back, _ = read_audio(path)
    np.testing.assert_array_equal(back, np.array([1.0, -1.0, 0.25], dtype=np.float32))


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left, right = tone(440, 0.1), tone(660, 0.1, amplitude=0.25)
    path = tmp_path / "stereo.wav"
    sf.write(str(path), np.stack([left, right], axis=1), SR, subtype="FLOAT")
    wave, _ = read_audio(path)
    assert wave.ndim == 1
    np.testing.assert_allclose(wave, (left + right) / 2, atol=1e-6)


def test_info_reads_the_header_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.wav"
    sf.write(str(path), np.zeros((4410, 2), dtype=np.float32), 22050)

    def no_decoding(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("audio_info decoded samples")

    monkeypatch.setattr(sf, "read", no_decoding)
    monkeypatch.setattr(sf.SoundFile, "read", no_decoding)
    info = audio_info(path)
    assert (info.sample_rate, info.frames, info.channels) == (22050, 4410, 2)
    assert math.isclose(info.duration, 0.2)
    assert info.path == str(path)


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.wav"


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    return path


def _random_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).bytes(2048))
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.wav"
    path.write_text("this is a transcript, not audio\n")
    return path


def _zero_frames(tmp_path: Path) -> Path:
    path = tmp_path / "silent.wav"
    sf.write(str(path), np.zeros(0, dtype=np.float32), SR)
    assert path.stat().st_size > 0  # a valid header with no samples
    return path


BAD_FILES = {
    "missing": (_missing, "not found"),
    "zero bytes": (_empty, "empty file (0 bytes)"),
    "random bytes": (_random_bytes, "unreadable audio"),
    "text": (_text, "unreadable audio"),
    "zero frames": (_zero_frames, "no audio frames"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize("reader", [audio_info, read_audio])
def test_bad_files_raise_an_error_naming_the_file(
    tmp_path: Path, kind: str, reader: object
) -> None:
    make, problem = BAD_FILES[kind]
    path = make(tmp_path)
    with pytest.raises(AudioFileError) as caught:
        reader(path)  # type: ignore[operator]
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_non_finite_samples_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    sf.write(str(path), np.array([0.1, np.nan, 0.2], dtype=np.float32), SR, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="NaN or infinite"):
        read_audio(path)


# --- processing ----------------------------------------------------------------------------------


def test_to_mono_averages_channels() -> None:
    stereo = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(to_mono(stereo), np.array([0.5, 0.5], dtype=np.float32))


@pytest.mark.parametrize(("orig", "target"), [(44100, 22050), (16000, 22050), (48000, 24000)])
def test_resample_keeps_duration_and_frequency(orig: int, target: int) -> None:
    wave = tone(440, 0.5, sr=orig)
    out = resample(wave, orig, target)
    assert out.dtype == np.float32
    assert abs(out.size - wave.size * target / orig) <= 1
    assert abs(peak_hz(out, target) - 440) <= target / out.size  # within one FFT bin


def test_resample_at_the_same_rate_is_identity() -> None:
    wave = tone(300, 0.1)
    np.testing.assert_array_equal(resample(wave, SR, SR), wave)


def test_trim_removes_leading_and_trailing_silence_within_a_frame() -> None:
    lead, body, tail = 5000, 8000, 7000
    wave = np.concatenate([np.zeros(lead), tone(440, body / SR), np.zeros(tail)]).astype(np.float32)
    wave += 1e-5 * np.random.default_rng(2).standard_normal(wave.size).astype(np.float32)
    kept, (start, end) = trim_silence(wave, top_db=40, frame_length=1024, hop_length=256)
    assert lead - 1024 <= start <= lead
    assert lead + body <= end <= lead + body + 1024
    np.testing.assert_array_equal(kept, wave[start:end])


def test_trim_keeps_silence_whole_and_without_nan() -> None:
    kept, span = trim_silence(np.zeros(5000, dtype=np.float32), top_db=30)
    assert span == (0, 5000) and kept.size == 5000


def test_peak_normalize_meets_its_target() -> None:
    out = peak_normalize(tone(200, 0.1, amplitude=0.1), peak=0.9)
    assert math.isclose(float(np.max(np.abs(out))), 0.9, rel_tol=1e-5)


@pytest.mark.parametrize("target", [-30.0, -20.0, -12.0])
def test_loudness_normalize_meets_its_rms_target(target: float) -> None:
    out = loudness_normalize(tone(250, 0.5, amplitude=0.01), target_dbfs=target)
    assert abs(rms_dbfs(out) - target) < 0.01


def test_loudness_normalize_never_clips() -> None:
    spike = np.zeros(8000, dtype=np.float32)
    spike[100] = 0.5  # a high target would need a gain of hundreds
    out = loudness_normalize(spike, target_dbfs=-3.0, peak_limit=0.99)
    assert math.isclose(float(np.max(np.abs(out))), 0.99, rel_tol=1e-5)
    assert rms_dbfs(out) < -3.0


@pytest.mark.parametrize("normalize", [peak_normalize, loudness_normalize])
def test_silence_is_not_divided_by_zero(normalize: object) -> None:
    out = normalize(np.zeros(1000, dtype=np.float32))  # type: ignore[operator]
    assert np.isfinite(out).all() and not out.any()


def test_empty_input_is_an_error() -> None:
    with pytest.raises(AudioValueError, match="empty"):
        peak_normalize(np.zeros(0, dtype=np.float32))


@pytest.mark.parametrize("mode", ["none", "peak", "loudness"])
def test_prepare_waveform_applies_the_audio_settings(mode: str) -> None:
    audio = attrs.evolve(AudioConfig(), sample_rate=22050, trim_silence_db=40.0, normalize=mode)
    body = tone(330, 0.5, sr=44100, amplitude=0.2)
    stereo = np.stack([body, body], axis=1)
    stereo = np.concatenate(
        [np.zeros((8820, 2), np.float32), stereo, np.zeros((8820, 2), np.float32)]
    )
    out = prepare_waveform(stereo, 44100, audio)
    assert out.ndim == 1 and out.dtype == np.float32
    assert 11025 <= out.size <= 11025 + 2 * audio.win_length  # 0.5 s at 22050 Hz, silence trimmed
    assert abs(peak_hz(out, 22050) - 330) <= 22050 / out.size
    level = {"none": 0.2, "peak": 0.95}.get(mode)
    if level is not None:
        assert math.isclose(float(np.max(np.abs(out))), level, rel_tol=0.02)
    else:
        assert abs(rms_dbfs(out) + 20.0) < 0.5
