"""The log-mel reference (autovoice.audio.features) and its torch twin (LogMel)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autovoice.audio import (
    WaveTooShortError,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_params,
    mel_to_hz,
    min_samples,
    num_frames,
    stft_magnitude,
)
from autovoice.config.schema import AudioConfig

AUDIO = AudioConfig()  # 22050 Hz, n_fft 1024, hop 256, 80 mels, 0-8000 Hz


def slaney_mel(f: float) -> float:
    """Slaney's mel scale written out from its definition."""
    return 3 * f / 200 if f < 1000 else 15 + 27 * math.log(f / 1000) / math.log(6.4)


def speech_like(seconds: float = 2.0, sr: int = 22050, noise_floor: float = 0.0) -> np.ndarray:
    """A vowel: harmonics of a gliding pitch shaped by two formants, with fricative noise bursts."""
    rng = np.random.default_rng(7)
    t = np.arange(round(seconds * sr)) / sr
    f0 = 110 + 60 * t / seconds + 8 * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    wave = np.zeros_like(t)
    for k in range(1, 60):
        fk = k * f0
        gain = np.exp(-(((fk - 700) / 250) ** 2)) + 0.5 * np.exp(-(((fk - 1200) / 300) ** 2))
        wave += gain * np.sin(k * phase) / k
    bursts = (np.sin(2 * np.pi * 1.5 * t) > 0.85).astype(np.float64)
    wave += 0.3 * bursts * rng.standard_normal(t.size)
    wave = 0.5 * wave / np.max(np.abs(wave))
    return (wave + noise_floor * rng.standard_normal(t.size)).astype(np.float32)


# --- mel scale and filterbank --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hz", "mel"),
    [(0.0, 0.0), (200.0, 3.0), (500.0, 7.5), (1000.0, 15.0), (6400.0, 42.0), (2000.0, None)],
)
def test_slaney_mel_scale(hz: float, mel: float | None) -> None:
    expected = slaney_mel(hz) if mel is None else mel
    assert math.isclose(float(hz_to_mel(hz)), expected, abs_tol=1e-9)
    assert math.isclose(float(mel_to_hz(expected)), hz, abs_tol=1e-6)


def test_filterbank_matches_triangles_built_from_the_definition() -> None:
    sr, n_fft, n_mels, f_min, f_max = 16000, 512, 20, 50.0, 7000.0
    bank = mel_filterbank(sr, n_fft, n_mels, f_min, f_max)
    lo, hi = slaney_mel(f_min), slaney_mel(f_max)
    mels = [lo + (hi - lo) * i / (n_mels + 1) for i in range(n_mels + 2)]
    edges = [float(mel_to_hz(m)) for m in mels]
    for i in range(n_mels):
        left, centre, right = edges[i], edges[i + 1], edges[i + 2]
        for b in range(n_fft // 2 + 1):
            f = b * sr / n_fft
            shape = min((f - left) / (centre - left), (right - f) / (right - centre))
            expected = max(0.0, shape) * 2 / (right - left)
            assert math.isclose(float(bank[i, b]), expected, rel_tol=1e-5, abs_tol=1e-9)


def test_filterbank_rows_are_triangles_of_unit_area() -> None:
    sr, n_fft = 22050, 16384  # fine bins, so that sums approximate areas
    bank = mel_filterbank(sr, n_fft, 40, 0.0, 8000.0).astype(np.float64)
    bin_hz = sr / n_fft
    assert bank.shape == (40, n_fft // 2 + 1) and (bank >= 0).all()
    for row in bank:
        support = np.flatnonzero(row)
        assert np.all(np.diff(support) == 1)  # one contiguous run
        top = int(np.argmax(row))
        assert np.all(np.diff(row[support[0] : top + 1]) >= 0)
        assert np.all(np.diff(row[top : support[-1] + 1]) <= 0)
        width = (support[-1] - support[0] + 2) * bin_hz  # f_hi - f_lo, within a bin
        assert math.isclose(row.max(), 2 / width, rel_tol=0.05)
        assert math.isclose(row.sum() * bin_hz, 1.0, rel_tol=0.02)


def test_filterbank_is_cached_on_all_parameters_and_read_only() -> None:
    args = (22050, 1024, 80, 0.0, 8000.0)
    bank = mel_filterbank(*args)
    assert mel_filterbank(*args) is bank
    for i, other in enumerate([16000, 2048, 64, 30.0, 7600.0]):
        changed = list(args)
        changed[i] = other
        assert mel_filterbank(*changed) is not bank  # type: ignore[arg-type]
    assert bank.dtype == np.float32 and bank.shape == (80, 513)
    with pytest.raises(ValueError):
        bank[0, 0] = 1.0


# --- STFT and log-mel ----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [5, 37, 200])
def test_stft_of_a_sine_peaks_at_its_bin(k: int) -> None:
    n_fft, sr = 1024, 22050
    t = np.arange(8000) / sr
    wave = np.sin(2 * np.pi * k * sr / n_fft * t)
    mag = stft_magnitude(wave, n_fft=n_fft, hop_length=256, win_length=1024)
    assert mag.shape == (n_fft // 2 + 1, num_frames(wave.size, 256, n_fft))
    inner = mag[:, 2:-2]  # the edge frames see the reflected padding
    assert (np.argmax(inner, axis=0) == k).all()


def test_log_mel_shape_dtype_and_clamp() -> None:
    wave = speech_like(0.5)
    mel = log_mel(wave, AUDIO)
    assert mel.dtype == np.float32
    assert mel.shape == (AUDIO.n_mels, num_frames(wave.size, AUDIO.hop_length, AUDIO.n_fft))
    assert mel.min() >= math.log(AUDIO.log_clamp) - 1e-6
    silent = log_mel(np.zeros(4096, dtype=np.float32), AUDIO)
    np.testing.assert_allclose(silent, math.log(AUDIO.log_clamp), rtol=1e-6)


def test_batch_equals_one_at_a_time() -> None:
    a, b = speech_like(0.4), 0.2 * speech_like(0.4)[::-1]
    batch = log_mel(np.stack([a, b]), AUDIO)
    np.testing.assert_allclose(batch[1], log_mel(b, AUDIO), atol=1e-6)
    assert batch.shape[0] == 2


def test_mel_params_names_every_setting_log_mel_reads() -> None:
    params = mel_params(AUDIO)
    wave = speech_like(0.2)
    other_values = {
        "sample_rate": 16000, "n_fft": 2048, "hop_length": 128, "win_length": 512, "n_mels": 40,
        "f_min": 50.0, "f_max": 6000.0, "log_clamp": 1e-3,
    }  # fmt: skip
    assert set(params) == set(other_values)
    for name in params:
        changed = attrs.evolve(AUDIO, **{name: other_values[name]})
        assert not np.array_equal(log_mel(wave, changed), log_mel(wave, AUDIO)), name
    others = {f.name for f in attrs.fields(AudioConfig)} - set(params)
    for name in others:  # the settings mel_params leaves out do not shape the log-mel
        value = getattr(AUDIO, name)
        changed = attrs.evolve(AUDIO, **{name: "none" if isinstance(value, str) else value + 1})
        np.testing.assert_array_equal(log_mel(wave, changed), log_mel(wave, AUDIO))


@settings(max_examples=40, deadline=None)
@given(
    n_fft=st.sampled_from([64, 128, 256, 400]),
    hop_fraction=st.floats(0.05, 1.0),
    extra=st.integers(0, 3000),
)
def test_num_frames_equals_the_frames_log_mel_produces(
    n_fft: int, hop_fraction: float, extra: int
) -> None:
    hop = max(1, int(n_fft * hop_fraction))
    n_samples = min_samples(n_fft, hop) + extra
    wave = np.random.default_rng(extra).uniform(-0.5, 0.5, n_samples)
    audio = AudioConfig(
        sample_rate=8000, n_fft=n_fft, hop_length=hop, win_length=n_fft, n_mels=8, f_max=4000.0
    )
    mel = log_mel(wave, audio)
    assert mel.shape == (8, num_frames(n_samples, hop, n_fft))


def test_frames_are_samples_over_hop_when_padding_is_even() -> None:
    for n in (400, 1000, 22050, 22050 * 3 + 17):
        assert num_frames(n, AUDIO.hop_length, AUDIO.n_fft) == n // AUDIO.hop_length


def test_too_short_a_wave_names_its_length() -> None:
    shortest = min_samples(AUDIO.n_fft, AUDIO.hop_length)
    with pytest.raises(WaveTooShortError, match=f"{shortest - 1} samples.*at least {shortest}"):
        log_mel(np.zeros(shortest - 1, dtype=np.float32), AUDIO)
    assert log_mel(np.zeros(shortest, dtype=np.float32), AUDIO).shape[-1] >= 1


def test_the_audio_package_does_not_import_torch() -> None:
    code = "import sys, autovoice.audio; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# --- the torch twin ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def test_torch_log_mel_matches_numpy_on_speech(torch: Any) -> None:
    from autovoice.training.features import LogMel

    wave = speech_like(2.0, noise_floor=1e-3)  # a recording's noise floor, about -60 dBFS
    module = LogMel(AUDIO)
    out = module(torch.from_numpy(wave))
    assert out.dtype == torch.float32
    assert np.abs(out.numpy() - log_mel(wave, AUDIO)).max() < 1e-4


def test_torch_log_mel_matches_numpy_on_a_batch(torch: Any) -> None:
    from autovoice.training.features import LogMel

    wave = speech_like(1.0, noise_floor=1e-3)
    batch = np.stack([wave, 0.3 * wave[::-1]])
    out = LogMel(AUDIO)(torch.from_numpy(batch)).numpy()
    assert out.shape == (2, AUDIO.n_mels, num_frames(wave.size, AUDIO.hop_length, AUDIO.n_fft))
    assert np.abs(out - log_mel(batch, AUDIO)).max() < 1e-4


def test_torch_log_mel_in_float64_is_the_same_definition(torch: Any) -> None:
    """Down to the clamp, where float32 rounding dominates, the two agree to float precision."""
    from autovoice.training.features import LogMel

    wave = speech_like(1.0)  # no noise floor: many bands sit near the clamp
    out = LogMel(AUDIO).double()(torch.from_numpy(wave).double()).numpy()
    assert np.abs(out - log_mel(wave, AUDIO)).max() < 1e-5


def test_torch_buffers_stay_out_of_checkpoints(torch: Any) -> None:
    from autovoice.training.features import LogMel

    module = LogMel(AUDIO)
    assert module.state_dict() == {}
    assert module.mel_basis.shape == (AUDIO.n_mels, AUDIO.n_fft // 2 + 1)
    with pytest.raises(WaveTooShortError):
        module(torch.zeros(2, 100))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torch_log_mel_exports_to_onnx(torch: Any, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from autovoice.training.features import LogMel

    module = LogMel(AUDIO).eval()
    example = torch.from_numpy(np.stack([speech_like(0.5), speech_like(0.5)]))
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("samples", min=1024)}
    path = tmp_path / "log_mel.onnx"
    torch.onnx.export(module, (example,), str(path), dynamo=True, dynamic_shapes=(dims,))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wave = np.random.default_rng(0).uniform(-0.5, 0.5, (3, 7000)).astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: wave})[0]
    assert np.abs(got - log_mel(wave, AUDIO)).max() < 1e-4


@pytest.mark.gpu
def test_torch_log_mel_on_cuda_matches_numpy(torch: Any) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from autovoice.training.features import LogMel

    wave = speech_like(2.0, noise_floor=1e-3)
    module = LogMel(AUDIO).to("cuda")
    out = module(torch.from_numpy(wave).to("cuda")).cpu().numpy()
    assert np.abs(out - log_mel(wave, AUDIO)).max() < 1e-4


def test_torch_log_mel_matches_numpy_on_recorded_speech(torch: Any) -> None:
    """Speech from espeak-ng (the demo corpus' voices), resampled and peak-normalized as a
    training corpus is. Synthetic speech has digitally silent bands that sit at the log clamp,
    where float32 FFT rounding moves the log by up to ~1e-3 (docs/audio.md); everywhere at least
    20 dB above the clamp the twin stays within 1e-4 of the reference."""
    from autovoice.audio.process import prepare_waveform
    from autovoice.espeak import synthesize
    from autovoice.training.features import LogMel

    wave, rate = synthesize("The quick brown fox jumps over the lazy dog.", "en-us+klatt3")
    wave = prepare_waveform(wave, rate, AUDIO)
    reference = log_mel(wave, AUDIO)
    twin = LogMel(AUDIO)(torch.from_numpy(wave)).numpy()
    assert twin.shape == reference.shape
    diff = np.abs(twin - reference)
    audible = reference > np.log(AUDIO.log_clamp) + np.log(100.0)
    assert audible.mean() > 0.5
    assert float(diff[audible].max()) < 1e-4
    assert float(diff.max()) < 2e-3
