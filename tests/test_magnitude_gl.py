"""The learned-magnitude Griffin-Lim vocoder: its network starts at the mel's envelope and
learns, its options are checked, Griffin-Lim inverts a magnitude, and a voice with it trains,
exports, speaks on onnxruntime and pytorch, and fine-tunes on predicted mels."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import attrs
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from autovoice.audio import features  # noqa: E402
from autovoice.audio.griffin_lim import (  # noqa: E402
    griffin_lim_magnitude,
    spectral_convergence,
    stft_magnitude,
)
from autovoice.audio.io import read_audio  # noqa: E402
from autovoice.audio.process import AudioValueError  # noqa: E402
from autovoice.config import AudioConfig, Config, TrainingConfig, apply_overrides  # noqa: E402
from autovoice.config.structure import structure  # noqa: E402
from autovoice.corpus.demo import make_demo_corpus  # noqa: E402
from autovoice.errors import ConfigError  # noqa: E402
from autovoice.heads import get_head  # noqa: E402
from autovoice.inference.head_stage import HeadSession  # noqa: E402
from autovoice.plugins import Registry  # noqa: E402
from autovoice.signature import (  # noqa: E402
    MAGNITUDE,
    GraphSignature,
    magnitude_signature,
    vocoder_signature,
)
from autovoice.training.features import LogMel  # noqa: E402
from autovoice_models.magnitude_gl.model import MagnitudeNet  # noqa: E402
from autovoice_models.magnitude_gl.recipe import build_net, build_recipe  # noqa: E402
from autovoice_models.magnitude_gl.spec import SPEC, MagnitudeGlOptions  # noqa: E402

AUDIO = AudioConfig()
BINS = AUDIO.n_fft // 2 + 1
SMALL = MagnitudeGlOptions(channels=32, dilations=(1, 2), segment_size=2048)
STFT = {"n_fft": 256, "hop_length": 64, "win_length": 256}
"""A small STFT for the Griffin-Lim tests (8 kHz audio)."""
TEXTS = ["Hello there.", "A longer second sentence here."]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these small models gain nothing from more, and lose much when the
    cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def harmonic(seconds: float, pitch: float, seed: int = 0) -> np.ndarray:
    """A sum of harmonics of ``pitch`` under a slow amplitude envelope, at 8 kHz, a whole number
    of hops long."""
    rng = np.random.default_rng(seed)
    rate, hop = 8000, STFT["hop_length"]
    t = np.arange(int(seconds * rate) // hop * hop) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 4) * t + rng.uniform(0, 6)) ** 2
    wave = sum(np.sin(2 * np.pi * k * pitch * t + rng.uniform(0, 6)) / k for k in range(1, 8))
    return (0.2 * envelope * wave).astype(np.float32)


# -- the network ---------------------------------------------------------------------------------


def _bank() -> np.ndarray:
    return features.mel_filterbank(
        AUDIO.sample_rate, AUDIO.n_fft, AUDIO.n_mels, AUDIO.f_min, AUDIO.f_max
    ).astype(np.float64)


@pytest.mark.parametrize("frames", [1, 7, 64])
def test_an_untrained_network_is_the_clamped_envelope(frames):
    torch.manual_seed(0)
    net = build_net(SMALL, AUDIO).eval()
    assert isinstance(net, MagnitudeNet)
    mel = torch.randn(2, AUDIO.n_mels, frames) * 2 - 4
    bank = _bank()
    levels = np.exp(mel.double().numpy()) / bank.sum(axis=1)[:, None]
    covered = bank.sum(axis=0)
    linear = np.einsum("mk,bmt->bkt", bank, levels) / np.maximum(covered, 1e-12)[:, None]
    expected = torch.from_numpy(np.maximum(linear, SMALL.magnitude_floor))
    with torch.no_grad():
        got = net.magnitude(mel)
        log = net(mel)
    assert got.shape == log.shape == (2, BINS, frames)
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-7)
    assert float(got.min()) >= SMALL.magnitude_floor * (1 - 1e-5)
    uncovered = covered == 0  # above f_max: no band, so the floor
    assert uncovered.any() and torch.all(got[:, torch.from_numpy(uncovered)] <= 1.0001e-5)


def test_the_envelope_of_a_flat_spectrum_is_flat_without_holes():
    """A spectrum of equal magnitudes comes back equal on every bin a band covers, where the
    filterbank's pseudo-inverse leaves holes and ripples."""
    bank = _bank()
    flat = np.full((BINS, 5), 0.37)
    mel = torch.from_numpy(np.log(bank @ flat)).float()[None]
    net = build_net(SMALL, AUDIO).eval()
    with torch.no_grad():
        got = net.magnitude(mel)[0].double().numpy()
    covered = bank.sum(axis=0) > 0
    np.testing.assert_allclose(got[covered], 0.37, rtol=1e-4)
    pseudo = np.linalg.pinv(bank) @ (bank @ flat)
    assert np.abs(pseudo[covered] - 0.37).max() > 1e-3  # what the envelope is an improvement on


def test_log_mel_magnitude_matches_numpy_and_forward_is_built_on_it():
    rng = np.random.default_rng(0)
    wave = (0.3 * rng.standard_normal((2, 3000))).astype(np.float32)
    mel = LogMel(AUDIO)
    magnitude = mel.magnitude(torch.from_numpy(wave))
    reference = features.stft_magnitude(
        wave, n_fft=AUDIO.n_fft, hop_length=AUDIO.hop_length, win_length=AUDIO.win_length
    )
    assert magnitude.shape == reference.shape == (2, BINS, 3000 // AUDIO.hop_length)
    np.testing.assert_allclose(magnitude.numpy(), reference, rtol=1e-4, atol=1e-4)
    rebuilt = torch.log(torch.clamp(mel.mel_basis @ magnitude, min=AUDIO.log_clamp))
    torch.testing.assert_close(mel(torch.from_numpy(wave)), rebuilt)
    numpy_mel = features.log_mel(wave[0], AUDIO)
    np.testing.assert_allclose(rebuilt[0].numpy(), numpy_mel, atol=1e-4)


def test_signature_is_mel_to_magnitude_for_the_griffin_lim_head():
    signature = magnitude_signature(AUDIO.n_mels, AUDIO.n_fft)
    assert signature.input_names == ["mel"] and signature.output_names == [MAGNITUDE]
    assert signature.outputs[0].shape == ("batch", BINS, "frames")
    assert GraphSignature.from_dict(signature.to_dict()) == signature
    head = get_head(SPEC.head)
    assert head.name == "griffin_lim" and head.missing(signature.output_names) == []
    assert head.missing(vocoder_signature(AUDIO.n_mels).output_names) == [MAGNITUDE]
    options = attrs.evolve(SMALL, iterations=3, momentum=0.5, seed=7)
    recipe = build_recipe(options, audio=AUDIO, training=TrainingConfig())
    assert recipe.signature == signature
    assert recipe.batch_keys == ("audio", "audio_mels")
    assert recipe.head is None  # the spec's
    assert recipe.head_options == {"iterations": 3, "momentum": 0.5, "seed": 7, "init": "random"}


# -- training ------------------------------------------------------------------------------------


def speech_batch(folder: Path, size: int = 4) -> dict[str, torch.Tensor]:
    """``size`` clips of ``SMALL.segment_size`` samples from the demo corpus' speech, and their
    log-mels."""
    make_demo_corpus(folder, speakers=1, sentences=2, seed=0, workers=1)
    clips = []
    for path in sorted((folder / "wavs").glob("*.wav")):
        wave, rate = read_audio(path)
        assert rate == AUDIO.sample_rate
        starts = np.linspace(2000, wave.size - SMALL.segment_size - 2000, size // 2).astype(int)
        clips += [wave[s : s + SMALL.segment_size] for s in starts]
    audio = torch.from_numpy(np.stack(clips[:size]).astype(np.float32))
    mels = LogMel(AUDIO)(audio)
    assert mels.shape == (size, AUDIO.n_mels, SMALL.segment_size // AUDIO.hop_length)
    return {"audio": audio, "audio_mels": mels}


def test_the_recipe_learns_the_magnitude_of_speech(tmp_path):
    torch.manual_seed(0)
    batch = speech_batch(tmp_path / "corpus")
    recipe = build_recipe(SMALL, audio=AUDIO, training=TrainingConfig())
    assert [s.name for s in recipe.steps] == ["magnitude"]
    (spec,) = recipe.optimizers
    params = [p for name in spec.modules for p in recipe.modules[name].parameters()]
    optimizer = torch.optim.AdamW(
        params, lr=spec.lr, betas=spec.betas, eps=spec.eps, weight_decay=spec.weight_decay
    )
    before = recipe.validate(batch)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        out = recipe.steps[0].loss(batch, {})
        assert set(out) == {"loss", "log_magnitude_loss", "convergence_loss"}
        out["loss"].backward()
        optimizer.step()
        losses.append(float(out["loss"].detach()))
    assert losses[-1] < 0.7 * losses[0], losses
    after = recipe.validate(batch)
    assert set(after) == {"val_loss", "convergence_loss"}
    assert all(isinstance(v, float) and np.isfinite(v) for v in after.values())
    assert after["val_loss"] < before["val_loss"]
    assert after["convergence_loss"] < before["convergence_loss"]
    media = recipe.media(batch)
    assert media["audio/generated"].shape == (SMALL.segment_size,)
    assert media["mel/magnitude_predicted"].shape == (BINS, SMALL.segment_size // 256)


def test_the_export_module_outputs_the_networks_linear_magnitude():
    torch.manual_seed(0)
    recipe = build_recipe(SMALL, audio=AUDIO, training=TrainingConfig())
    net = recipe.modules["magnitude"]
    with torch.no_grad():
        for param in net.out.parameters():
            param.normal_(0, 0.1)  # something beyond the envelope to copy
        exported = recipe.export_module()
        assert not exported.training
        mel = torch.randn(1, AUDIO.n_mels, 9) - 3
        torch.testing.assert_close(exported(mel), torch.exp(net.eval()(mel)))


# -- options -------------------------------------------------------------------------------------


def test_a_segment_size_off_the_hop_names_the_option():
    bad = attrs.evolve(SMALL, segment_size=2000)
    with pytest.raises(ConfigError) as info:
        build_recipe(bad, audio=AUDIO, training=TrainingConfig())
    assert "$.vocoder.options.segment_size" in str(info.value)
    assert "2000" in str(info.value) and "256" in str(info.value)
    build_recipe(bad, audio=attrs.evolve(AUDIO, hop_length=200), training=TrainingConfig())


@pytest.mark.parametrize(
    ("table", "field", "says"),
    [
        ({"kernel_size": 4}, "kernel_size", "odd"),
        ({"dilations": []}, "dilations", "non-empty"),
        ({"dilations": [1, 0]}, "dilations", "> 0"),
        ({"channels": 0}, "channels", "> 0"),
        ({"momentum": 1.0}, "momentum", "[0, 1)"),
        ({"iterations": -1}, "iterations", ">= 0"),
    ],
)
def test_bad_options_name_their_field(table, field, says):
    with pytest.raises(ConfigError) as info:
        structure(table, MagnitudeGlOptions, path="$.vocoder.options")
    assert f"$.vocoder.options.{field}" in str(info.value)
    assert says in str(info.value)


def test_options_from_a_config_table():
    options = structure(
        {"channels": 32, "dilations": [1, 2], "iterations": 8}, MagnitudeGlOptions, path="$"
    )
    assert options.dilations == (1, 2) and options.iterations == 8
    assert options == attrs.evolve(SMALL, segment_size=16384, iterations=8)


# -- Griffin-Lim from a magnitude ----------------------------------------------------------------


def test_griffin_lim_recovers_a_waveform_with_the_target_magnitude():
    target = stft_magnitude(harmonic(1.0, 150.0), **STFT)
    errors = {}
    for iterations in (0, 32):
        wave = griffin_lim_magnitude(target, **STFT, iterations=iterations)
        assert wave.dtype == np.float32
        assert wave.shape == (target.shape[-1] * STFT["hop_length"],)
        errors[iterations] = spectral_convergence(stft_magnitude(wave, **STFT), target)
    assert errors[32] < 0.25
    assert errors[32] < 0.5 * errors[0], errors


def test_griffin_lim_refuses_a_bad_magnitude():
    good = stft_magnitude(harmonic(0.2, 200.0), **STFT)
    bad = {
        "wrong bin count": good[:-1],
        "1-D": good[:, 0],
        "negative": good - 1.0,
        "NaN": np.where(np.arange(good.shape[-1]) == 3, np.nan, good),
    }
    for why, magnitude in bad.items():
        with pytest.raises(AudioValueError, match="magnitude") as info:
            griffin_lim_magnitude(magnitude, **STFT, iterations=1)
        assert str(info.value).startswith("magnitude"), why


def test_a_batch_is_its_items_called_one_by_one():
    first = stft_magnitude(harmonic(0.5, 150.0, seed=1), **STFT)
    second = stft_magnitude(harmonic(0.5, 230.0, seed=2), **STFT)
    batch = griffin_lim_magnitude(np.stack([first, second]), **STFT, iterations=4)
    assert batch.shape == (2, first.shape[-1] * STFT["hop_length"])
    for item, magnitude in zip(batch, (first, second), strict=True):
        np.testing.assert_allclose(
            item, griffin_lim_magnitude(magnitude, **STFT, iterations=4), atol=1e-6
        )
    assert not np.allclose(batch[0], batch[1], atol=1e-3)


# -- a voice with this vocoder -------------------------------------------------------------------


def registry() -> Registry:
    """Every installed plugin, and the pytorch backend when no entry point registers it."""
    import autovoice_torch

    eps = importlib.metadata.entry_points(group="autovoice")
    extra = [] if any(ep.value == "autovoice_torch" for ep in eps) else [autovoice_torch]
    return Registry.discover(plugins=extra)


@attrs.frozen
class Voice:
    root: Path
    bundle: Path


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Voice:
    """A tiny voice whose vocoder is ``magnitude_gl`` (3 steps, 8 Griffin-Lim iterations)."""
    pytest.importorskip("onnxruntime")
    from benchmarks._tiny_voice import MAGNITUDE_VOCODER, make_tiny_voice

    root = tmp_path_factory.mktemp("magnitude")
    bundle = make_tiny_voice(root, acoustic_steps=2, vocoder_steps=3, vocoder=MAGNITUDE_VOCODER)
    return Voice(root=root, bundle=bundle)


@pytest.fixture(scope="module")
def engines(voice: Voice) -> dict:
    from autovoice.inference import VoiceInferenceEngine

    reg = registry()
    return {
        backend: VoiceInferenceEngine(voice.bundle, backend=backend, registry=reg, threads=1)
        for backend in ("onnxruntime", "pytorch")
    }


@pytest.mark.slow
def test_the_bundle_records_the_magnitude_vocoder(voice):
    from autovoice.bundle import VoiceBundle

    manifest = json.loads((voice.bundle / "manifest.json").read_text())
    vocoder = manifest["vocoder"]
    assert vocoder["plugin"] == "magnitude_gl"
    assert vocoder["options"]["iterations"] == 8
    assert vocoder["options"]["dilations"] == [1, 2]
    (output,) = vocoder["signature"]["outputs"]
    assert output["name"] == MAGNITUDE
    assert output["shape"] == ["batch", BINS, "frames"]
    assert manifest["format_version"] == 2
    assert vocoder["head"] == "griffin_lim"
    assert vocoder["head_options"] == {
        "iterations": 8,
        "momentum": 0.99,
        "seed": 0,
        "init": "random",
    }
    stage = VoiceBundle.open(voice.bundle, verify=True).stage("vocoder")
    assert stage.plugin == "magnitude_gl" and stage.onnx is not None
    assert (stage.head, stage.head_options) == ("griffin_lim", vocoder["head_options"])


@pytest.mark.slow
def test_the_engine_runs_the_graph_then_griffin_lim_on_either_backend(engines):
    hop = AUDIO.hop_length
    waves = {}
    for backend, engine in engines.items():
        assert engine.backends == {"acoustic": backend, "vocoder": f"{backend}+griffin_lim"}
        stage = engine.stages["vocoder"]
        assert isinstance(stage.session, HeadSession)
        assert stage.session.head.head.name == "griffin_lim"
        assert stage.session.head.options.iterations == 8
        assert stage.context.signature == vocoder_signature(AUDIO.n_mels)
        batch = engine.synthesize_batch(TEXTS)
        assert all(w.dtype == np.float32 and w.size % hop == 0 for w in batch)
        assert all(np.isfinite(w).all() and np.abs(w).max() > 0 for w in batch)
        waves[backend] = [w.size for w in batch]
    assert waves["onnxruntime"] == waves["pytorch"]

    mel = (np.random.default_rng(0).standard_normal((2, AUDIO.n_mels, 23)) - 4).astype(np.float32)
    magnitudes = {
        backend: engine.stages["vocoder"].session.graph.run({"mel": mel})[MAGNITUDE]
        for backend, engine in engines.items()
    }
    assert magnitudes["onnxruntime"].shape == (2, BINS, 23)
    assert (magnitudes["onnxruntime"] > 0).all()
    np.testing.assert_allclose(
        magnitudes["onnxruntime"], magnitudes["pytorch"], rtol=1e-3, atol=1e-4
    )
    stage = engines["onnxruntime"].stages["vocoder"]
    first, second = (stage.run({"mel": mel})["audio"] for _ in range(2))
    assert first.dtype == np.float32 and first.shape == (2, 23 * hop)
    np.testing.assert_array_equal(first, second)
    expected = griffin_lim_magnitude(
        magnitudes["onnxruntime"], n_fft=AUDIO.n_fft, hop_length=hop,
        win_length=AUDIO.win_length, iterations=8, momentum=0.99,
    )  # fmt: skip
    np.testing.assert_allclose(first, expected, atol=1e-5)


@pytest.mark.slow
def test_griffin_lim_on_request_ignores_the_learned_magnitude(voice, engines):
    from autovoice.inference import VoiceInferenceEngine

    plain = VoiceInferenceEngine(
        voice.bundle, backend="onnxruntime", registry=registry(), threads=1, vocoder="griffin_lim"
    )
    assert plain.backends == {"acoustic": "onnxruntime", "vocoder": "griffin_lim"}
    mel = (np.random.default_rng(1).standard_normal((1, AUDIO.n_mels, 30)) - 4).astype(np.float32)
    learned = engines["onnxruntime"].stages["vocoder"].run({"mel": mel})["audio"]
    pseudo_inverse = plain.stages["vocoder"].run({"mel": mel})["audio"]
    assert learned.shape == pseudo_inverse.shape == (1, 30 * AUDIO.hop_length)
    assert not np.allclose(learned, pseudo_inverse, atol=1e-3)


@pytest.mark.slow
def test_finetune_vocoder_on_predicted_mels(voice):
    from autovoice.training.build import build_trainer
    from autovoice.training.checkpoints.manager import CheckpointManager
    from autovoice.training.runtime import Runtime
    from benchmarks._tiny_voice import MAGNITUDE_VOCODER

    runs = voice.root / "runs"
    config = apply_overrides(
        Config(),
        [
            f"data.corpus='{voice.root / 'corpus'}'",
            "data.val_fraction=0.2",
            "data.min_duration=0.1",
            "training.batch_size=4",
            "training.max_steps=2",
            "training.val_every=1000",
            "training.checkpoint_every=1000",
            "training.log_every=1000",
            "training.device='cpu'",
            "training.learning_rate=1e-12",
            f"training.output_dir='{runs}'",
            *MAGNITUDE_VOCODER,
        ],
    )
    runtime = Runtime(torch.device("cpu"), "fp32")
    trainer = build_trainer(config, stage="finetune-vocoder", runtime=runtime, progress=False)
    trainer.fit()

    mel_dir = runs / "finetune-vocoder" / "predicted-mels"
    files = sorted(mel_dir.glob("*.npy"))
    assert len(files) == 16  # every utterance of the corpus, both speakers
    assert np.load(files[0]).shape[0] == AUDIO.n_mels

    def weights(directory: Path) -> tuple[int, dict[str, torch.Tensor]]:
        manager = CheckpointManager(directory, recover=False)
        record = manager.list_checkpoints()[-1]
        _, state, _ = manager.read(record.name)
        return record.step, state["magnitude"]

    step, tuned = weights(runs / "finetune-vocoder" / "checkpoints")
    _, start = weights(runs / "vocoder" / "checkpoints")
    assert step == 2
    # warm start: with a vanishing learning rate the fine-tuned network is the vocoder's
    assert tuned.keys() == start.keys()
    assert any(float(v.abs().max()) > 0 for v in start.values())
    for key in start:
        torch.testing.assert_close(tuned[key], start[key], rtol=0, atol=1e-6)

    # the fine-tuned vocoder exports as a voice's vocoder stage, next to the acoustic model
    from autovoice.export import export_voice

    out = export_voice(
        runs / "acoustic", runs / "finetune-vocoder", voice.root / "tuned-voice",
        overrides=["export.validate=false"],
    )  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vocoder"]["plugin"] == "magnitude_gl"
    assert manifest["vocoder"]["onnx"] == "vocoder.onnx"
    assert manifest["vocoder"]["checkpoint"]["location"].endswith("step-000000002")
    assert "finetune-vocoder" not in manifest


def test_export_validation_bounds_the_relative_error_of_magnitudes():
    """Linear magnitudes run from the floor to hundreds: their export check compares logs, so a
    loud bin may differ by more than the tolerance in absolute terms but not in relative ones."""
    from autovoice.export.errors import ExportValidationError
    from autovoice.export.validate import _compare, _Rule

    rule = _Rule(
        where="x.onnx", tolerance=1e-3, log_outputs=frozenset(get_head(SPEC.head).log_compared)
    )
    want = np.array([[[1e-5, 1.0, 800.0]]], np.float32)
    loud = np.array([[[1e-5, 1.0, 800.4]]], np.float32)  # 0.4 apart, 5e-4 relative
    diffs = _compare(rule, "case", ["magnitude"], [loud], [want])
    assert 4e-4 < diffs["magnitude"] < 6e-4
    quiet = np.array([[[1e-5, 1.01, 800.0]]], np.float32)  # 0.01 apart, 1% relative
    with pytest.raises(ExportValidationError, match=r"magnitude.*log"):
        _compare(rule, "case", ["magnitude"], [quiet], [want])
    with pytest.raises(ExportValidationError, match=r"'audio'.*max abs diff"):
        _compare(rule, "case", ["audio"], [loud], [want])
