"""HiFi-GAN: published sizes, weight-norm folding, ONNX parity, GAN steps, and that it learns."""

from __future__ import annotations

import subprocess
import sys

import attrs
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import autovoice_datasets  # noqa: E402
import autovoice_models  # noqa: E402
import autovoice_stores  # noqa: E402
from autovoice.audio.features import log_mel  # noqa: E402
from autovoice.config import AudioConfig, TrainingConfig, parse_config  # noqa: E402
from autovoice.errors import ConfigError  # noqa: E402
from autovoice.plugins import Registry  # noqa: E402
from autovoice.training.features import LogMel  # noqa: E402
from autovoice_models.hifigan.generator import Generator, count_parameters  # noqa: E402
from autovoice_models.hifigan.losses import (  # noqa: E402
    MultiResolutionSTFTLoss,
    adversarial_loss,
    discriminator_loss,
    feature_matching_loss,
)
from autovoice_models.hifigan.presets import PRESETS, resolve_generator  # noqa: E402
from autovoice_models.hifigan.recipe import build_generator, build_recipe  # noqa: E402
from autovoice_models.hifigan.spec import SPEC, HifiGanOptions  # noqa: E402

# A small setup that trains in seconds: 16 kHz, hop 128, 40 mels, a narrow V3-style generator.
TINY_AUDIO = AudioConfig(
    sample_rate=16000, n_fft=512, win_length=512, hop_length=128, n_mels=40, f_max=8000.0
)
TINY = HifiGanOptions(
    preset="v3", upsample_rates=(8, 4, 4), upsample_initial_channel=64, segment_size=2048
)
TRAINING = TrainingConfig(learning_rate=2e-3)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these small models gain nothing from more, and lose much when the
    cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def speechlike(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A voiced, gliding-pitch harmonic signal with three formants, a syllable envelope, noise."""
    t = np.arange(n) / sr
    wobble = np.sin(2 * np.pi * rng.uniform(0.5, 3) * t + rng.uniform(0, 6))
    f0 = rng.uniform(100, 220) * (1 + 0.15 * wobble)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    formants = rng.uniform([300, 900, 2000], [900, 2200, 3200])
    wave = np.zeros(n)
    for k in range(1, 30):
        fk = k * f0
        gain = sum(np.exp(-0.5 * ((fk - f) / 150) ** 2) for f in formants) / np.sqrt(k)
        wave += gain * np.sin(k * phase) * (fk < sr / 2)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6)) ** 2
    wave = wave * envelope + 0.02 * rng.standard_normal(n)
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


def make_batch(rng: np.random.Generator, size: int, audio: AudioConfig = TINY_AUDIO) -> dict:
    waves = np.stack([speechlike(rng, TINY.segment_size, audio.sample_rate) for _ in range(size)])
    mels = np.stack([log_mel(w, audio) for w in waves]).astype(np.float32)
    return {"audio": torch.from_numpy(waves), "audio_mels": torch.from_numpy(mels)}


def mel_distance(fake: torch.Tensor, real: torch.Tensor) -> float:
    """The recipe's mel loss (full band: TINY_AUDIO.f_max is already half the sample rate)."""
    mel = LogMel(TINY_AUDIO)
    return float(torch.nn.functional.l1_loss(mel(fake), mel(real)))


def optimizers_of(recipe) -> dict:
    built = {}
    for spec in recipe.optimizers:
        params = [p for name in spec.modules for p in recipe.modules[name].parameters()]
        built[spec.name] = torch.optim.AdamW(
            params, lr=spec.lr, betas=spec.betas, eps=spec.eps, weight_decay=spec.weight_decay
        )
    return built


def run_steps(recipe, optimizers, batch, step: int) -> dict:
    """One batch through every due step, in order, as the trainer drives them."""
    scratch: dict = {}
    losses = {}
    for train_step in recipe.steps:
        if step < train_step.start_step:
            continue
        optimizer = optimizers[train_step.optimizer]
        optimizer.zero_grad()
        out = train_step.loss(batch, scratch)
        out["loss"].backward()
        optimizer.step()
        losses[train_step.name] = {k: float(v.detach()) for k, v in out.items()}
    return losses


@pytest.mark.parametrize(("preset", "millions"), [("v1", 13.9), ("v2", 0.93), ("v3", 1.46)])
def test_generators_have_the_published_parameter_counts(preset, millions):
    generator = build_generator(HifiGanOptions(preset=preset), AudioConfig())
    assert generator.has_weight_norm
    count = count_parameters(generator.prepare_for_export())
    assert not generator.has_weight_norm
    assert abs(count / 1e6 - millions) <= 0.01 * millions, count


def test_presets_upsample_by_the_default_hop_and_output_one_hop_per_frame():
    for name, preset in PRESETS.items():
        assert np.prod(preset.upsample_rates) == 256, name
    generator = build_generator(HifiGanOptions(preset="v3"), AudioConfig()).eval()
    with torch.no_grad():
        out = generator(torch.randn(3, 80, 11) * 3)
    assert out.shape == (3, 11 * 256)
    assert out.abs().max() <= 1.0


def test_upsampling_that_misses_the_hop_length_names_both():
    with pytest.raises(ConfigError) as info:
        resolve_generator(HifiGanOptions(preset="v1"), hop_length=200)
    message = str(info.value)
    assert "$.vocoder.options.preset" in message and "256" in message and "200" in message
    custom = HifiGanOptions(preset="v2", upsample_rates=(8, 5, 4))
    with pytest.raises(ConfigError, match=r"upsample_rates.*160.*hop_length is 200"):
        resolve_generator(custom, hop_length=200)


def test_custom_upsample_rates_fit_another_hop():
    options = HifiGanOptions(preset="v2", upsample_rates=(8, 5, 5), upsample_initial_channel=32)
    audio = AudioConfig(hop_length=200, win_length=800, n_fft=1024)
    generator = build_generator(options, audio).eval()
    assert [up.stride[0] for up in generator.ups] == [8, 5, 5]
    assert [up.kernel_size[0] for up in generator.ups] == [16, 11, 11]
    with torch.no_grad():
        assert generator(torch.randn(2, 80, 7)).shape == (2, 1400)
    with pytest.raises(ConfigError, match="upsample_kernel_sizes"):
        resolve_generator(attrs.evolve(options, upsample_kernel_sizes=(16, 9, 10)), hop_length=200)


def test_config_checks_the_options_table_and_segment_size():
    registry = Registry.discover(
        plugins=[autovoice_stores, autovoice_models, autovoice_datasets], entry_points=False
    )
    assert registry.get("vocoder", "hifigan") is SPEC
    data = {"vocoder": {"name": "hifigan", "options": {"preset": "v4", "discriminators": "mpd"}}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, registry=registry)
    assert "$.vocoder.options.preset" in str(info.value)
    assert "$.vocoder.options.discriminators" in str(info.value)
    data = {"vocoder": {"name": "hifigan", "options": {"upsample_rates": [8, 8, 4]}}}
    options = parse_config(data, registry=registry).vocoder.options
    assert options.upsample_rates == (8, 8, 4)
    bad = attrs.evolve(TINY, segment_size=2000)
    with pytest.raises(ConfigError, match=r"segment_size.*multiple.*128"):
        build_recipe(bad, audio=TINY_AUDIO, training=TRAINING)


def test_spec_module_does_not_import_torch():
    code = "import sys, autovoice_models.hifigan.spec; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("preset", ["v2", "v3"])
def test_folding_weight_norm_keeps_outputs_bit_identical(preset):
    torch.manual_seed(0)
    generator = build_generator(HifiGanOptions(preset=preset), AudioConfig()).eval()
    mel = torch.randn(2, 80, 23)
    with torch.no_grad():
        before = generator(mel)
        after = generator.prepare_for_export()(mel)
    assert not generator.has_weight_norm
    assert torch.equal(before, after)


def test_export_module_is_a_folded_copy():
    recipe = build_recipe(TINY, audio=TINY_AUDIO, training=TRAINING)
    exported = recipe.export_module()
    assert recipe.modules["generator"].has_weight_norm
    assert not exported.has_weight_norm and not exported.training
    mel = torch.randn(1, 40, 9)
    with torch.no_grad():
        assert torch.equal(exported(mel), recipe.modules["generator"].eval()(mel))


def _audible(generator: Generator) -> Generator:
    """Re-draw the weights so that outputs follow the input and span a useful range (the
    published initialization gives near-silence with a transient at the edges)."""
    with torch.no_grad():
        for module in generator.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                module.reset_parameters()
        level = generator(torch.randn(2, generator.conv_pre.in_channels, 16)).std()
        generator.conv_post.weight.mul_(0.3 / level)
    return generator


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter
def test_onnx_export_matches_pytorch_at_several_lengths_and_batches(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    options = HifiGanOptions(preset="v2", discriminators="none")
    recipe = build_recipe(options, audio=AudioConfig(), training=TRAINING)
    module = _audible(recipe.export_module())
    sig = recipe.signature
    path = tmp_path / "vocoder.onnx"
    torch.onnx.export(
        module,
        (torch.randn(1, 80, 20),),
        str(path),
        input_names=sig.input_names,
        output_names=sig.output_names,
        dynamic_axes=sig.dynamic_axes(),
        opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 2):
        for frames in (10, 37, 100):
            mel = torch.randn(batch, 80, frames)
            with torch.no_grad():
                expected = module(mel).numpy()
            (got,) = session.run(sig.output_names, {"mel": mel.numpy()})
            assert got.shape == (batch, frames * 256)
            assert expected.std() > 0.1  # outputs large enough for the tolerance to mean much
            assert np.abs(got - expected).max() < 1e-4


def test_lsgan_and_feature_matching_losses_vanish_only_at_their_optimum():
    ones, zeros = [torch.ones(2, 5)], [torch.zeros(2, 5)]
    assert float(discriminator_loss(ones, zeros)) == 0.0
    assert float(discriminator_loss(zeros, ones)) == 2.0
    assert float(adversarial_loss(ones)) == 0.0
    features = [[torch.randn(2, 3, 4), torch.randn(2, 7)]]
    assert float(feature_matching_loss(features, features)) == 0.0
    shifted = [[f + 0.5 for f in features[0]]]
    assert float(feature_matching_loss(features, shifted)) == pytest.approx(1.0)
    wave = torch.from_numpy(speechlike(np.random.default_rng(1), 4096, 16000))[None]
    stft = MultiResolutionSTFTLoss()
    assert float(stft(wave, wave)) == pytest.approx(0.0, abs=1e-6)
    assert float(stft(0.5 * wave, wave)) > 0.1


def test_gan_steps_train_each_side_with_its_own_optimizer():
    torch.manual_seed(0)
    options = attrs.evolve(TINY, adversarial_start_step=1, stft_loss_weight=1.0)
    recipe = build_recipe(options, audio=TINY_AUDIO, training=TRAINING)
    assert [s.name for s in recipe.steps] == ["discriminator", "generator"]
    assert [o.name for o in recipe.optimizers] == ["disc", "gen"]
    assert recipe.optimizers[0].betas == (0.8, 0.99)
    assert recipe.batch_keys == ("audio", "audio_mels")
    optimizers = optimizers_of(recipe)
    batch = make_batch(np.random.default_rng(0), 1)
    mpd = recipe.modules["mpd"]
    disc_before = [p.detach().clone() for p in mpd.parameters()]
    warmup = run_steps(recipe, optimizers, batch, step=0)
    assert set(warmup) == {"generator"}
    assert set(warmup["generator"]) == {"loss", "mel_loss", "stft_loss"}
    assert all(torch.equal(a, b) for a, b in zip(disc_before, mpd.parameters(), strict=True))
    disc_step, gen_step = recipe.steps
    scratch: dict = {}
    disc_losses = disc_step.loss(batch, scratch)
    assert set(disc_losses) == {"loss", "mpd_loss", "msd_loss"}
    disc_losses["loss"].backward()
    optimizers["disc"].step()
    assert not all(torch.equal(a, b) for a, b in zip(disc_before, mpd.parameters(), strict=True))
    disc_grads = [p.grad.clone() for p in mpd.parameters()]
    optimizers["gen"].zero_grad()
    gen_losses = gen_step.loss(batch, scratch)
    assert set(gen_losses) >= {"adv_loss", "fm_loss", "mel_loss", "stft_loss"}
    gen_losses["loss"].backward()
    # the generator step trains the generator alone: no gradient reaches the discriminators
    assert all(torch.equal(g, p.grad) for g, p in zip(disc_grads, mpd.parameters(), strict=True))
    assert all(p.grad is not None for p in recipe.modules["generator"].parameters())


def test_spectral_training_lowers_the_mel_loss_of_held_out_audio():
    torch.manual_seed(0)
    options = attrs.evolve(TINY, discriminators="none")
    recipe = build_recipe(options, audio=TINY_AUDIO, training=TRAINING)
    optimizers = optimizers_of(recipe)
    rng = np.random.default_rng(0)
    pool = [make_batch(rng, 4) for _ in range(40)]
    held_out = make_batch(np.random.default_rng(99), 8)
    initial = recipe.validate(held_out)["val_loss"]
    for step in range(300):
        run_steps(recipe, optimizers, pool[step % len(pool)], step)
    final = recipe.validate(held_out)
    assert final["val_loss"] == final["mel_loss"]
    assert final["val_loss"] < 0.7 * initial
    # Not merely loud enough: clearly closer than level-matched noise, and than another clip of
    # the same kind of sound (what a generator ignoring its input mel would at best achieve).
    real = held_out["audio"]
    noise = torch.randn_like(real) * real.std(-1, keepdim=True)
    other = torch.roll(real, 1, 0)
    baselines = [mel_distance(w, real) for w in (noise, other)]
    assert final["val_loss"] < 0.85 * min(baselines), (final, baselines)
    media = recipe.media(held_out)
    assert media["audio/generated"].shape == (TINY.segment_size,)
    assert media["mel/generated"].shape == held_out["audio_mels"][0].shape
