"""Griffin-Lim: the numpy vocoder converges, keeps lengths and pitch, refuses bad input; the
bundle format and the inference stage that carry it (no torch)."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autovoice.audio.features import log_mel
from autovoice.audio.griffin_lim import (
    griffin_lim,
    griffin_lim_magnitude,
    mel_to_magnitude,
    spectral_convergence,
    stft_magnitude,
)
from autovoice.audio.process import AudioValueError
from autovoice.bundle import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    BundleError,
    StageInfo,
    VoiceBundle,
    file_table,
    graphless_vocoder_entry,
)
from autovoice.config import AudioConfig, TextConfig, unstructure
from autovoice.heads import MEL_GRIFFIN_LIM, get_head
from autovoice.inference.checks import InferenceError
from autovoice.inference.head_stage import check_vocoder_choice, stage_head, with_head
from autovoice.inference.stages import StageContext
from autovoice.signature import acoustic_signature, vocoder_signature
from autovoice.text.symbols import characters_table

AUDIO = AudioConfig(
    sample_rate=8000, n_fft=256, win_length=256, hop_length=64, n_mels=32, f_max=4000.0
)
STFT = {"n_fft": AUDIO.n_fft, "hop_length": AUDIO.hop_length, "win_length": AUDIO.win_length}


def voiced(seconds: float, pitch: float, seed: int = 0) -> np.ndarray:
    """A speech-like test signal: harmonics of a gliding ``pitch`` and a little noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * AUDIO.sample_rate) // AUDIO.hop_length * AUDIO.hop_length
    t = np.arange(n) / AUDIO.sample_rate
    phase = 2 * np.pi * pitch * (t + 0.05 * np.sin(2 * np.pi * 2 * t))
    wave = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.2
    return (wave + 0.01 * rng.standard_normal(n)).astype(np.float32)


def convergence(mel: np.ndarray, wave: np.ndarray) -> float:
    target = mel_to_magnitude(mel, AUDIO)
    return spectral_convergence(stft_magnitude(wave, **STFT), target)


# -- the algorithm -------------------------------------------------------------------------------


def test_spectral_convergence_improves_with_iterations():
    mel = log_mel(voiced(1.0, 140.0), AUDIO)
    errors = [convergence(mel, griffin_lim(mel, AUDIO, iterations=i)) for i in (0, 4, 32)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.5 * errors[0]


def test_momentum_converges_faster_than_the_plain_algorithm():
    mel = log_mel(voiced(1.0, 180.0, seed=1), AUDIO)
    plain = convergence(mel, griffin_lim(mel, AUDIO, iterations=16, momentum=0.0))
    fast = convergence(mel, griffin_lim(mel, AUDIO, iterations=16, momentum=0.99))
    assert fast < plain


def reference_griffin_lim(mel: np.ndarray, iterations: int) -> np.ndarray:
    """The textbook algorithm in float64, one frame at a time (slow, plain)."""
    n_fft, hop = AUDIO.n_fft, AUDIO.hop_length
    magnitude = mel_to_magnitude(mel, AUDIO).astype(float).T
    window = np.hanning(n_fft + 1)[:-1]
    count, left = magnitude.shape[0], (n_fft - hop) // 2
    rng = np.random.default_rng(0)
    spectrum = magnitude * np.exp(2j * np.pi * rng.random(magnitude.shape))

    def inverse(spec: np.ndarray) -> np.ndarray:
        out, norm = np.zeros(count * hop + n_fft), np.zeros(count * hop + n_fft)
        for t in range(count):
            out[t * hop : t * hop + n_fft] += np.fft.irfft(spec[t], n_fft) * window
            norm[t * hop : t * hop + n_fft] += window**2
        return (out / np.maximum(norm, 1e-8))[left : left + count * hop]

    for _ in range(iterations):
        wave = inverse(spectrum)
        padded = np.pad(wave, (left, n_fft - hop - left), mode="reflect")
        frames = [padded[t * hop : t * hop + n_fft] * window for t in range(count)]
        rebuilt = np.fft.rfft(np.array(frames), axis=-1)
        spectrum = magnitude * np.exp(1j * np.angle(rebuilt))
    return inverse(spectrum)


def test_agrees_with_a_plain_float64_reference():
    mel = log_mel(voiced(0.5, 200.0, seed=2), AUDIO)
    ours = convergence(mel, griffin_lim(mel, AUDIO, iterations=12, momentum=0.0))
    theirs = convergence(mel, reference_griffin_lim(mel, 12))
    assert abs(ours - theirs) < 0.03


@settings(max_examples=25, deadline=None)
@given(
    frames=st.integers(1, 30),
    batch=st.integers(1, 3),
    hop=st.sampled_from([64, 99, 100, 200]),
)
def test_output_holds_frames_times_hop_samples(frames, batch, hop):
    audio = attrs.evolve(AUDIO, hop_length=hop, win_length=200)
    mel = np.random.default_rng(frames).normal(-4.0, 1.0, (batch, AUDIO.n_mels, frames))
    wave = griffin_lim(mel, audio, iterations=2)
    assert wave.shape == (batch, frames * hop) and wave.dtype == np.float32
    assert np.isfinite(wave).all()
    one = griffin_lim(mel[0], audio, iterations=2)
    assert one.shape == (frames * hop,)


@pytest.mark.parametrize("pitch", [150.0, 440.0, 1000.0])
def test_a_tone_keeps_its_pitch(pitch):
    """The peak STFT bin (of the magnitude averaged over frames) stays within a bin, at the
    default feature settings (80 mels, 1024-point FFT)."""
    audio = AudioConfig()
    n = audio.sample_rate // 2 // audio.hop_length * audio.hop_length
    tone = (0.5 * np.sin(2 * np.pi * pitch * np.arange(n) / audio.sample_rate)).astype(np.float32)
    wave = griffin_lim(log_mel(tone, audio), audio, iterations=16)

    def peak(signal: np.ndarray) -> int:
        magnitude = stft_magnitude(
            signal, n_fft=audio.n_fft, hop_length=audio.hop_length, win_length=audio.win_length
        )
        return int(np.argmax(magnitude[:, 2:-2].mean(axis=1)))

    expected = round(pitch * audio.n_fft / audio.sample_rate)
    assert abs(peak(tone) - expected) <= 1
    assert abs(peak(wave) - peak(tone)) <= 1


def test_a_batch_matches_its_items_and_a_seed_decides_the_phases():
    mels = np.stack([log_mel(voiced(0.4, p), AUDIO) for p in (120.0, 220.0)])
    batch = griffin_lim(mels, AUDIO, iterations=8)
    for item in range(2):
        alone = griffin_lim(mels[item], AUDIO, iterations=8)
        np.testing.assert_allclose(batch[item], alone, atol=1e-5)
    again = griffin_lim(mels, AUDIO, iterations=8, rng=np.random.default_rng(0))
    other = griffin_lim(mels, AUDIO, iterations=8, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(batch, again)
    assert not np.allclose(batch, other, atol=1e-3)


@pytest.mark.parametrize(
    ("mel", "changes", "named"),
    [
        (np.zeros(32), {}, "log_mel"),
        (np.zeros((31, 5)), {}, "log_mel"),
        (np.zeros((32, 0)), {}, "log_mel"),
        (np.full((32, 5), np.nan), {}, "log_mel"),
        (np.zeros((32, 5)), {"iterations": -1}, "iterations"),
        (np.zeros((32, 5)), {"iterations": 2.5}, "iterations"),
        (np.zeros((32, 5)), {"momentum": 1.0}, "momentum"),
    ],
)
def test_bad_input_names_the_argument(mel, changes, named):
    with pytest.raises(AudioValueError, match=named):
        griffin_lim(mel, AUDIO, **changes)


@pytest.mark.parametrize(
    ("changes", "named"),
    [({"hop_length": 0}, "hop_length"), ({"hop_length": 512}, "hop_length"),
     ({"win_length": 512}, "win_length")],
)  # fmt: skip
def test_bad_stft_settings_name_the_argument(changes, named):
    """An ``[audio]`` section cannot hold these (its checks refuse them); the magnitude's
    Griffin-Lim, which takes the STFT settings one by one, names them."""
    magnitude = np.ones((AUDIO.n_fft // 2 + 1, 5), dtype=np.float32)
    with pytest.raises(AudioValueError, match=named):
        griffin_lim_magnitude(magnitude, **{**STFT, **changes})


# -- the bundle entry and the inference stage ----------------------------------------------------


def write_bundle(root: Path, vocoder: dict, version: int = FORMAT_VERSION) -> Path:
    """A bundle with stand-in acoustic files (for parsing only) and the vocoder ``vocoder``."""
    root.mkdir()
    for name in ("acoustic.onnx", "acoustic.safetensors"):
        (root / name).write_bytes(name.encode())
    acoustic = {
        "plugin": "voice_transformer",
        "options": {},
        "onnx": "acoustic.onnx",
        "weights": "acoustic.safetensors",
        "signature": acoustic_signature(AUDIO.n_mels).to_dict(),
        "opset": 17,
    }
    manifest = {
        "format": FORMAT,
        "format_version": version,
        "name": "gl",
        "audio": unstructure(AUDIO),
        "text": unstructure(TextConfig()),
        "symbols": characters_table().to_dict(),
        "speakers": ["one"],
        "acoustic": acoustic,
        "vocoder": vocoder,
        "limits": {"max_tokens": 64, "max_frames": 256},
        "files": file_table(root, ["acoustic.onnx", "acoustic.safetensors"]),
    }
    (root / MANIFEST).write_text(json.dumps(manifest))
    return root


def mel_head_entry(**options: object) -> dict:
    """The vocoder entry of a voice voiced by Griffin-Lim from the mel, as export writes it."""
    return graphless_vocoder_entry(get_head(MEL_GRIFFIN_LIM).bind(options, path="$"))


def test_a_griffin_lim_vocoder_stage_has_head_options_and_no_files(tmp_path):
    entry = mel_head_entry(iterations=8)
    assert entry == {
        "plugin": "griffin_lim",
        "options": {},
        "head": "mel_griffin_lim",
        "head_options": {"iterations": 8, "momentum": 0.99, "seed": 0, "init": "random"},
    }
    bundle = VoiceBundle.open(write_bundle(tmp_path / "v", entry))
    stage = bundle.stage("vocoder")
    assert (stage.plugin, stage.onnx, stage.weights, stage.has_graph) == (
        "griffin_lim",
        None,
        None,
        False,
    )
    assert stage.head == "mel_griffin_lim"
    assert stage.head_options == {"iterations": 8, "momentum": 0.99, "seed": 0, "init": "random"}
    assert stage.signature.output_names == ["audio"]
    assert stage.signature.inputs[0].shape == ("batch", AUDIO.n_mels, "frames")
    assert bundle.stage("acoustic").has_graph and bundle.stage("acoustic").head is None
    with pytest.raises(BundleError, match="vocoder stage: plugin 'griffin_lim' has no graph"):
        stage.artifacts()


def test_a_format_1_griffin_lim_stage_reads_as_the_mel_head(tmp_path):
    entry = {"plugin": "griffin_lim", "options": {"iterations": 8}}
    stage = VoiceBundle.open(write_bundle(tmp_path / "v", entry, version=1)).stage("vocoder")
    assert (stage.head, stage.has_graph) == ("mel_griffin_lim", False)
    assert stage.head_options == {"iterations": 8, "momentum": 0.99, "seed": 0, "init": "random"}


def test_bad_griffin_lim_options_are_errors_naming_the_field(tmp_path):
    entry = {"plugin": "griffin_lim", "options": {"iterations": -3}}
    with pytest.raises(BundleError, match=r"\$\.vocoder\.options\.iterations: must be >= 0"):
        VoiceBundle.open(write_bundle(tmp_path / "v", entry, version=1))
    with pytest.raises(BundleError, match=r"\$\.vocoder\.options: missing"):
        VoiceBundle.open(write_bundle(tmp_path / "w", {"plugin": "griffin_lim"}, version=1))
    entry = {**mel_head_entry(), "head_options": {"momentum": 2.0}}
    with pytest.raises(BundleError, match=r"\$\.vocoder\.head_options\.momentum"):
        VoiceBundle.open(write_bundle(tmp_path / "x", entry))


def mel_stage(**options: object) -> StageInfo:
    entry = mel_head_entry(**options)
    return StageInfo(
        name="vocoder",
        plugin=entry["plugin"],
        options={},
        onnx=None,
        weights=None,
        signature=vocoder_signature(AUDIO.n_mels),
        opset=0,
        checkpoint={},
        head=entry["head"],
        head_options=entry["head_options"],
    )


def test_the_stage_keeps_the_vocoder_contract():
    head = stage_head(mel_stage(iterations=4))
    assert head is not None and head.options.iterations == 4
    context = StageContext(
        name="vocoder", plugin="griffin_lim", signature=vocoder_signature(AUDIO.n_mels),
        audio=AUDIO,
    )  # fmt: skip
    runner = with_head(None, head, context)
    assert (runner.backend, runner.artifact, runner.device) == ("griffin_lim", "numpy", "cpu")
    assert runner.context.options == {
        "iterations": 4,
        "momentum": 0.99,
        "seed": 0,
        "init": "random",
    }
    mel = np.stack([log_mel(voiced(0.3, p), AUDIO) for p in (150.0, 250.0)])
    audio = runner.run({"mel": mel})["audio"]
    assert audio.shape == (2, mel.shape[-1] * AUDIO.hop_length) and audio.dtype == np.float32
    np.testing.assert_array_equal(audio, runner.run({"mel": mel})["audio"])
    expected = griffin_lim(mel, AUDIO, iterations=4, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(audio, expected)
    with pytest.raises(InferenceError, match=r"vocoder stage \(griffin_lim\): 'mel' must be"):
        runner.run({"mel": mel[0]})
    with pytest.raises(InferenceError, match="no 'mel' input"):
        runner.run({"spectrogram": mel})


def test_the_mel_head_options_on_request_are_the_bundles_own_only():
    own = stage_head(mel_stage(iterations=5), "griffin_lim")
    assert own is not None and own.options.iterations == 5
    assert check_vocoder_choice("griffin_lim") == "griffin_lim"
    with pytest.raises(InferenceError, match="vocoder must be one of 'bundle', 'griffin_lim'"):
        check_vocoder_choice("griffin-lim")
