"""The iSTFT vocoder: its inverse STFT inverts the features' framing on both paths (FFT and
fixed basis), an untrained network is the mel's envelope, the phase losses ignore whole turns,
the recipe learns, options are checked, and its graph runs on ONNX Runtime as on PyTorch."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from autovoice.audio.io import read_audio  # noqa: E402
from autovoice.config import AudioConfig, TrainingConfig  # noqa: E402
from autovoice.config.structure import structure  # noqa: E402
from autovoice.corpus.demo import make_demo_corpus  # noqa: E402
from autovoice.errors import ConfigError  # noqa: E402
from autovoice.signature import vocoder_signature  # noqa: E402
from autovoice.training.features import LogMel  # noqa: E402
from autovoice_models.istft.discriminators import MultiResolutionDiscriminator  # noqa: E402
from autovoice_models.istft.losses import anti_wrap, phase_losses  # noqa: E402
from autovoice_models.istft.model import InverseSTFT, IstftWaveExport  # noqa: E402
from autovoice_models.istft.recipe import build_net, build_recipe  # noqa: E402
from autovoice_models.istft.spec import PRESETS, IstftOptions  # noqa: E402

AUDIO = AudioConfig()
BINS = AUDIO.n_fft // 2 + 1
SMALL = IstftOptions(dim=32, intermediate=64, layers=2, segment_size=2048, output="waveform")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- the inverse STFT ----------------------------------------------------------------------------


@pytest.mark.parametrize(("n_fft", "hop", "win"), [(1024, 256, 1024), (512, 128, 400)])
@pytest.mark.parametrize("basis", [False, True])
def test_the_inverse_stft_gives_back_the_wave_the_features_framed(n_fft, hop, win, basis):
    features = LogMel(attrs.evolve(AUDIO, n_fft=n_fft, hop_length=hop, win_length=win))
    wave = torch.randn(2, 40 * hop, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    wave = wave.float()
    spectrum = features.spectrum(wave)
    assert spectrum.shape == (2, n_fft // 2 + 1, 40)
    inverse = InverseSTFT(n_fft=n_fft, hop_length=hop, win_length=win)
    back = inverse(spectrum.real, spectrum.imag, basis=basis)
    assert back.shape == wave.shape
    torch.testing.assert_close(back, wave, rtol=0, atol=2e-5)
    # the first and last samples too: reflect padding leaves them covered
    torch.testing.assert_close(back[:, :hop], wave[:, :hop], rtol=0, atol=2e-5)
    torch.testing.assert_close(back[:, -hop:], wave[:, -hop:], rtol=0, atol=2e-5)


def test_the_basis_path_is_the_inverse_fft_of_any_spectrum():
    """Also for spectra no waveform has (the network's), whose DC and Nyquist bins carry an
    imaginary part the inverse real FFT ignores."""
    gen = torch.Generator().manual_seed(1)
    real, imag = torch.randn(2, 3, BINS, 17, generator=gen)
    inverse = InverseSTFT(n_fft=AUDIO.n_fft, hop_length=AUDIO.hop_length, win_length=1024)
    fft = inverse(real, imag, basis=False)
    basis = inverse(real, imag, basis=True)
    assert fft.shape == (3, 17 * AUDIO.hop_length)
    torch.testing.assert_close(basis, fft, rtol=0, atol=1e-5)


def test_n_fft_must_hold_whole_hops():
    with pytest.raises(ValueError, match="multiple of hop_length"):
        InverseSTFT(n_fft=1024, hop_length=300, win_length=1024)
    with pytest.raises(ConfigError) as info:
        build_recipe(SMALL, audio=attrs.evolve(AUDIO, hop_length=300), training=TrainingConfig())
    assert "$.audio.n_fft" in str(info.value)


# -- the network ---------------------------------------------------------------------------------


def test_an_untrained_network_has_the_mels_envelope():
    torch.manual_seed(0)
    net = build_net(SMALL, AUDIO).eval()
    mel = torch.randn(2, AUDIO.n_mels, 11) - 4
    with torch.no_grad():
        log_magnitude, r, i = net(mel)
        real, imag = net.spectrum(mel)
    torch.testing.assert_close(log_magnitude, net.envelope(mel))
    assert r.shape == i.shape == (2, BINS, 11)
    torch.testing.assert_close(torch.hypot(real, imag), torch.exp(log_magnitude), rtol=1e-4, atol=0)
    phase = torch.atan2(imag, real)
    torch.testing.assert_close(phase, torch.atan2(i, r), rtol=0, atol=1e-4)


def test_presets_have_the_sizes_the_docs_give():
    sizes = {
        name: sum(p.numel() for p in build_net(IstftOptions(preset=name), AUDIO).parameters())
        for name in PRESETS
    }
    assert 0.6e6 < sizes["tiny"] < 0.75e6
    assert 1.7e6 < sizes["small"] < 1.8e6
    assert 7.8e6 < sizes["base"] < 8.0e6
    assert 13.5e6 < sizes["large"] < 14.0e6
    wider = build_net(IstftOptions(preset="tiny", dim=64, layers=1), AUDIO)
    assert wider.embed.out_channels == 64 and len(wider.blocks) == 1


# -- losses --------------------------------------------------------------------------------------


def test_anti_wrapping_ignores_whole_turns():
    x = torch.linspace(-3 * math.pi, 3 * math.pi, 101)
    wrapped = anti_wrap(x)
    assert float(wrapped.min()) >= 0 and float(wrapped.max()) <= math.pi + 1e-6
    torch.testing.assert_close(anti_wrap(x + 4 * math.pi), wrapped, rtol=0, atol=1e-5)
    torch.testing.assert_close(
        anti_wrap(torch.tensor([math.pi - 0.1])), torch.tensor([math.pi - 0.1])
    )
    assert float(anti_wrap(torch.tensor([2 * math.pi - 0.1]))) == pytest.approx(0.1, abs=1e-5)


def test_phase_losses_see_phase_errors_and_not_turns():
    gen = torch.Generator().manual_seed(2)
    target = (torch.rand(2, BINS, 9, generator=gen) * 2 - 1) * math.pi
    same = phase_losses(target + 2 * math.pi, target)
    assert set(same) == {"ip_loss", "gd_loss", "iaf_loss"}
    assert all(float(v) < 1e-5 for v in same.values())
    shifted = phase_losses(target + 0.5, target)  # a constant shift moves no difference
    assert float(shifted["ip_loss"]) == pytest.approx(0.5, abs=1e-4)
    assert float(shifted["gd_loss"]) < 1e-5 and float(shifted["iaf_loss"]) < 1e-5
    noisy = phase_losses(target + torch.randn(2, BINS, 9, generator=gen), target)
    assert all(float(v) > 0.3 for v in noisy.values())


# -- the recipe ----------------------------------------------------------------------------------


def speech_batch(folder: Path, size: int = 4) -> dict[str, torch.Tensor]:
    make_demo_corpus(folder, speakers=1, sentences=2, seed=0, workers=1)
    clips = []
    for path in sorted((folder / "wavs").glob("*.wav")):
        wave, _ = read_audio(path)
        starts = np.linspace(2000, wave.size - SMALL.segment_size - 2000, size // 2).astype(int)
        clips += [wave[s : s + SMALL.segment_size] for s in starts]
    audio = torch.from_numpy(np.stack(clips[:size]).astype(np.float32))
    return {"audio": audio, "audio_mels": LogMel(AUDIO)(audio)}


def _optimizer(recipe, name: str):
    spec = next(o for o in recipe.optimizers if o.name == name)
    params = [p for module in spec.modules for p in recipe.modules[module].parameters()]
    return torch.optim.AdamW(params, lr=spec.lr, betas=spec.betas)


def test_the_recipe_learns_magnitude_and_phase_of_speech(tmp_path):
    torch.manual_seed(0)
    batch = speech_batch(tmp_path / "corpus")
    recipe = build_recipe(SMALL, audio=AUDIO, training=TrainingConfig())
    assert [s.name for s in recipe.steps] == ["generator"]
    assert recipe.signature == vocoder_signature(AUDIO.n_mels)
    optimizer = _optimizer(recipe, "gen")
    before = recipe.validate(batch)
    first = None
    for _ in range(60):
        optimizer.zero_grad()
        out = recipe.steps[0].loss(batch, {})
        out["loss"].backward()
        optimizer.step()
        first = first if first is not None else {k: float(v.detach()) for k, v in out.items()}
    last = {k: float(v.detach()) for k, v in out.items()}
    assert {"magnitude_loss", "ip_loss", "gd_loss", "iaf_loss", "spectrum_loss"} <= set(last)
    assert {"consistency_loss", "mel_loss", "stft_loss"} <= set(last)
    assert last["loss"] < 0.9 * first["loss"], (first, last)
    assert last["gd_loss"] < first["gd_loss"]  # the phase is learned, not only the magnitude
    after = recipe.validate(batch)
    assert after["val_loss"] == after["mel_loss"] < before["val_loss"]
    media = recipe.media(batch)
    assert media["audio/generated"].shape == (SMALL.segment_size,)
    assert np.isfinite(media["audio/generated"]).all()


@pytest.mark.parametrize("name", ["mrd", "phase"])
def test_the_adversarial_recipe_runs_a_discriminator_step_first(tmp_path, name):
    torch.manual_seed(0)
    batch = speech_batch(tmp_path / "corpus", size=2)
    options = attrs.evolve(SMALL, discriminators=name, adversarial_start_step=5)
    recipe = build_recipe(options, audio=AUDIO, training=TrainingConfig())
    assert [s.name for s in recipe.steps] == ["discriminator", "generator"]
    assert recipe.steps[0].start_step == 5
    assert set(recipe.modules) == {"generator", name}
    scratch: dict = {}
    d = recipe.steps[0].loss(batch, scratch)
    assert float(d["loss"]) > 0 and "generated" in scratch and f"{name}_loss" in d
    g = recipe.steps[1].loss(batch, scratch)
    assert {"adv_loss", "fm_loss"} <= set(g)
    g["loss"].backward()
    assert all(p.grad is None for p in recipe.modules[name].parameters())  # frozen for G
    assert any(p.grad is not None for p in recipe.modules["generator"].parameters())
    alone = recipe.steps[1].loss(batch, {})
    assert "adv_loss" not in alone  # before the discriminator starts


def test_the_phase_discriminator_sees_where_a_click_is_in_its_frame():
    """A click moved by 37 samples turns each bin's phase by ``2 pi k 37 / n_fft``: the
    group-delay phasors move by that turn, the instantaneous-frequency ones (the advance from
    frame to frame, less each bin's centre frequency) stay; bins above 4 kHz are left out."""
    from autovoice_models.istft.discriminators import PhaseDiscriminator

    disc = PhaseDiscriminator(
        sample_rate=AUDIO.sample_rate, n_fft=AUDIO.n_fft, hop_length=AUDIO.hop_length
    )
    click = torch.zeros(1, 8192)
    click[0, 4096] = 1.0
    maps, later = disc.maps(click), disc.maps(torch.roll(click, 37, dims=-1))
    assert maps.shape[1] == 5 and maps.shape[-1] == int(4000 * AUDIO.n_fft / AUDIO.sample_rate)
    both = (maps[:, 0] > -2) & (later[:, 0] > -2)  # frames that hold the click, both times
    turn = abs(
        complex(math.cos(2 * math.pi * 37 / AUDIO.n_fft), math.sin(2 * math.pi * 37 / AUDIO.n_fft))
        - 1
    )
    group_delay = torch.complex(maps[:, 3], maps[:, 4]) - torch.complex(later[:, 3], later[:, 4])
    frequency = torch.complex(maps[:, 1], maps[:, 2]) - torch.complex(later[:, 1], later[:, 2])
    assert both.sum() > 100
    assert float(group_delay.abs()[both].median()) == pytest.approx(turn, rel=0.2)
    assert float(frequency.abs()[both].median()) < 0.2 * turn
    scores, features = disc(torch.randn(2, 8192))
    assert len(scores) == len(features) == 1 and scores[0].shape[0] == 2


def test_the_discriminator_scores_every_resolution():
    disc = MultiResolutionDiscriminator()
    scores, features = disc(torch.randn(2, 4096))
    assert len(scores) == len(features) == 3
    assert all(s.shape[0] == 2 and s.dim() == 2 for s in scores)
    assert all(len(f) == 6 for f in features)


@pytest.mark.parametrize(
    ("table", "field", "says"),
    [
        ({"preset": "huge"}, "preset", "tiny"),
        ({"kernel_size": 4}, "kernel_size", "odd"),
        ({"output": "mp3"}, "output", "waveform"),
        ({"discriminators": "mpd"}, "discriminators", "phase"),
        ({"phase_loss_weight": -1}, "phase_loss_weight", ">= 0"),
    ],
)
def test_bad_options_name_their_field(table, field, says):
    with pytest.raises(ConfigError) as info:
        structure(table, IstftOptions, path="$.vocoder.options")
    assert f"$.vocoder.options.{field}" in str(info.value)
    assert says in str(info.value)


# -- export --------------------------------------------------------------------------------------


def _trained_looking(options: IstftOptions = SMALL):
    torch.manual_seed(0)
    recipe = build_recipe(options, audio=AUDIO, training=TrainingConfig())
    with torch.no_grad():
        for param in recipe.modules["generator"].head.parameters():
            param.normal_(0, 0.05)  # something beyond the envelope to export
        net = recipe.modules["generator"]
        for extra in (net.clock, net.integrator, net.harmonic):
            for param in extra.parameters() if extra is not None else ():
                param.normal_(0, 0.5)
    return recipe


def test_the_export_module_is_the_networks_waveform():
    recipe = _trained_looking()
    exported = recipe.export_module()
    assert isinstance(exported, IstftWaveExport) and not exported.training
    mel = torch.randn(2, AUDIO.n_mels, 13) - 4
    with torch.no_grad():
        want = recipe.modules["generator"].eval().waveform(mel)
        torch.testing.assert_close(exported(mel), want, rtol=0, atol=1e-5)


TOLERANCE = 1e-4
"""Waveform parity of ONNX Runtime with PyTorch (full scale is 1)."""


@pytest.mark.parametrize(
    ("output", "clock", "rotation", "integrated", "harmonic"),
    [
        ("waveform", False, False, False, 0.0),
        ("spectrum", False, False, False, 0.0),
        ("spectrum", True, False, False, 0.0),
        ("spectrum", False, True, False, 0.0),
        ("waveform", False, True, False, 0.0),
        ("spectrum", False, False, True, 0.0),
        ("waveform", False, False, True, 0.0),
        ("spectrum", False, False, False, 1000.0),
        ("waveform", False, False, False, 1000.0),
    ],
)
def test_the_graph_runs_on_onnxruntime_as_on_pytorch(
    tmp_path, output, clock, rotation, integrated, harmonic
):
    """The whole vocoder, head included: ONNX Runtime's waveform within :data:`TOLERANCE` of
    PyTorch's, for batches and lengths other than the traced ones."""
    ort = pytest.importorskip("onnxruntime")
    from autovoice.export.onnx import export_onnx
    from autovoice.heads import get_head

    recipe = _trained_looking(
        attrs.evolve(
            SMALL,
            output=output,
            frame_clock=clock,
            bin_rotation=rotation,
            integrated_phase=integrated,
            harmonic_below_hz=harmonic,
        )
    )
    module = recipe.export_module()
    head = get_head(recipe.head).bind({}, path="head_options")
    names = recipe.signature.output_names
    rng = np.random.default_rng(0)
    example = {"mel": (rng.standard_normal((2, AUDIO.n_mels, 21)) - 4).astype(np.float32)}
    path = export_onnx(
        module, recipe.signature, tmp_path / "v.onnx", opset=17, example_inputs=example
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for batch, frames in ((1, 7), (3, 64), (2, 301)):
        mel = (rng.standard_normal((batch, AUDIO.n_mels, frames)) - 4).astype(np.float32)
        got = head.synthesise(
            dict(zip(names, session.run(names, {"mel": mel}), strict=True)), AUDIO
        )
        with torch.no_grad():
            outputs = module(torch.from_numpy(mel))
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        want = head.synthesise({n: o.numpy() for n, o in zip(names, outputs, strict=True)}, AUDIO)
        assert got.shape == want.shape == (batch, frames * AUDIO.hop_length)
        assert np.abs(want).max() > 1e-3
        np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("harmonic", [0.0, 1000.0])
def test_the_graph_holds_every_linear_weight_as_the_module_does(tmp_path, harmonic):
    """Each linear layer's weight is in the exported graph byte for byte, not transposed, so a
    bundle's graph reads it from the stage's safetensors instead of keeping a copy (the shipped
    vocoder's graph went from 6.7 MB to 0.2 MB)."""
    onnx = pytest.importorskip("onnx")
    from autovoice.export.onnx import export_onnx

    recipe = _trained_looking(attrs.evolve(SMALL, output="spectrum", harmonic_below_hz=harmonic))
    module = recipe.export_module()
    example = {"mel": np.zeros((2, AUDIO.n_mels, 21), np.float32) - 4}
    path = export_onnx(
        module, recipe.signature, tmp_path / "v.onnx", opset=17, example_inputs=example
    )
    held = {
        onnx.numpy_helper.to_array(tensor).tobytes()
        for tensor in onnx.load(str(path)).graph.initializer
    }
    linear = {
        name: layer.weight
        for name, layer in module.named_modules()
        if isinstance(layer, torch.nn.Linear)
    }
    assert len(linear) == 2 * SMALL.layers + 1 + (2 if harmonic else 0)
    for name, weight in linear.items():
        assert weight.detach().numpy().tobytes() in held, name


def test_the_spectrum_graph_and_the_istft_head_make_the_waveform_graphs_audio():
    """``output = "spectrum"`` leaves the inverse STFT to the numpy head; the two placements
    give the same waveform."""
    from autovoice.heads import get_head
    from autovoice.signature import spectrum_signature

    wave_recipe = _trained_looking()
    spectrum_recipe = _trained_looking(attrs.evolve(SMALL, output="spectrum"))
    assert wave_recipe.head == "waveform" and spectrum_recipe.head == "istft"
    assert spectrum_recipe.signature == spectrum_signature(AUDIO.n_mels, AUDIO.n_fft)
    mel = torch.randn(2, AUDIO.n_mels, 19) - 4
    with torch.no_grad():
        want = wave_recipe.export_module()(mel).numpy()
        real, imag = spectrum_recipe.export_module()(mel)
    head = get_head("istft").bind({}, path="head_options")
    got = head.synthesise({"real": real.numpy(), "imag": imag.numpy()}, AUDIO)
    assert got.shape == want.shape == (2, 19 * AUDIO.hop_length)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_the_projections_trained_through_are_the_ones_the_head_runs():
    """With ``projections`` in training, training makes the waveform the istft head makes of
    the exported graph's spectrum (the same projections, numpy against torch; without, the
    plain inverse STFT's), the recipe names them in its head options, the consistency loss
    still reads the network's own spectrum, and a graph that ends in the waveform cannot take
    them."""
    from autovoice.heads import get_head
    from autovoice_models.istft.recipe import IstftTraining

    options = attrs.evolve(
        SMALL,
        output="spectrum",
        projections=3,
        projection_momentum=0.9,
        projections_in_training=True,
    )
    recipe = _trained_looking(options)
    assert recipe.head == "istft"
    assert dict(recipe.head_options) == {
        "projections": 3,
        "projection_momentum": 0.9,
        "projection_decimation": 1,
    }
    net = recipe.modules["generator"].eval()
    mel = torch.randn(2, AUDIO.n_mels, 23) - 4
    with torch.no_grad():
        out = IstftTraining(net, AUDIO, options).generate(mel)
        plain = IstftTraining(net, AUDIO, attrs.evolve(options, projections=0)).generate(mel)
        untrained = attrs.evolve(options, projections_in_training=False)
        torch.testing.assert_close(
            IstftTraining(net, AUDIO, untrained).generate(mel)["wave"], plain["wave"]
        )
        real, imag = recipe.export_module()(mel)
    head = get_head("istft").bind(recipe.head_options, path="head_options")
    want = head.synthesise({"real": real.numpy(), "imag": imag.numpy()}, AUDIO)
    np.testing.assert_allclose(out["wave"].numpy(), want, rtol=0, atol=1e-5)
    assert np.abs(out["wave"].numpy() - plain["wave"].numpy()).max() > 1e-3
    features = LogMel(AUDIO)
    torch.testing.assert_close(out["rebuilt"], features.spectrum(plain["wave"])[..., :23])
    with pytest.raises(ConfigError, match=r"\$\.vocoder\.options\.projections"):
        build_recipe(attrs.evolve(SMALL, projections=1), audio=AUDIO, training=TrainingConfig())


def test_band_limited_projections_are_a_head_setting_the_recipe_checks():
    """``projection_decimation`` goes into the head options; one that does not divide the
    framing, or one asked of training, is a config error naming it."""
    spectrum = attrs.evolve(SMALL, output="spectrum", projections=8, projection_decimation=8)
    recipe = _trained_looking(spectrum)
    assert recipe.head_options["projection_decimation"] == 8
    where = r"\$\.vocoder\.options\.projection_decimation"
    with pytest.raises(ConfigError, match=where + r": 3 does not divide the framing"):
        build_recipe(
            attrs.evolve(spectrum, projection_decimation=3), audio=AUDIO, training=TrainingConfig()
        )
    with pytest.raises(ConfigError, match=where + r": 8: band-limited projections run in"):
        build_recipe(
            attrs.evolve(spectrum, projections_in_training=True),
            audio=AUDIO,
            training=TrainingConfig(),
        )


def test_flop_counts_include_the_basis_product_of_the_graph():
    from benchmarks._flops import count_flops

    mel = torch.randn(1, AUDIO.n_mels, 50) - 4
    wave = count_flops(_trained_looking().export_module(), mel)
    spectrum = count_flops(
        _trained_looking(attrs.evolve(SMALL, output="spectrum")).export_module(), mel
    )
    assert wave - spectrum == 2 * 50 * (2 * BINS) * AUDIO.n_fft


def test_weighted_phase_losses_follow_the_loud_bins():
    gen = torch.Generator().manual_seed(3)
    target = (torch.rand(1, 8, 6, generator=gen) * 2 - 1) * math.pi
    weight = torch.full((1, 8, 6), 1e-6)
    weight[:, 2] = 1.0  # one loud bin
    predicted = target.clone()
    predicted[:, 5] += 1.0  # an error in a quiet bin only
    plain = phase_losses(predicted, target)
    weighted = phase_losses(predicted, target, weight)
    assert float(plain["ip_loss"]) == pytest.approx(1 / 8, abs=1e-5)
    assert float(weighted["ip_loss"]) < 1e-4
    predicted[:, 2] += 1.0  # now the loud bin is wrong too
    assert float(phase_losses(predicted, target, weight)["ip_loss"]) == pytest.approx(1.0, abs=1e-3)
    assert float(weighted["iaf_loss"]) < 1e-4  # the quiet bin's constant shift moves no difference


def test_export_validation_compares_what_the_istft_head_uses_of_a_spectrum():
    """The istft head has its waveform (one inverse STFT) and its magnitude compared, not the
    parts: one loud bin's phase turned by 0.01 rad in one frame (what float32 rounding does
    where a direction is near zero) moves the parts by 1e-2 of their peak and the waveform by
    far less, and passes; a magnitude 1% off, or every bin turned, does not."""
    from autovoice.export.errors import ExportValidationError
    from autovoice.export.validate import _compare, _Rule
    from autovoice.heads import get_head

    head = get_head("istft")
    assert head.log_compared == ("magnitude",) and head.peak_compared == ("audio",)
    views = head.compared_as
    assert views is not None
    rule = _Rule(
        where="x.onnx", tolerance=1e-3, log_outputs=frozenset(head.log_compared),
        peak_outputs=frozenset(head.peak_compared), views=lambda values: views(values, AUDIO),
    )  # fmt: skip
    rng = np.random.default_rng(0)
    magnitude = np.exp(rng.normal(-2.0, 1.0, (1, BINS, 30)))
    magnitude[0, 20, 15] = 40.0  # the peak
    angle = rng.uniform(-np.pi, np.pi, magnitude.shape)

    def parts(m, a):
        return [(m * np.cos(a)).astype(np.float32), (m * np.sin(a)).astype(np.float32)]

    want = parts(magnitude, angle)
    names = ["real", "imag"]
    nudged = angle.copy()
    nudged[0, 20, 15] += 0.01
    close = parts(magnitude, nudged)
    assert np.abs(close[0] - want[0]).max() / np.abs(want[0]).max() > 5e-3
    found = _compare(rule, "case", names, close, want)
    assert set(found) == {"audio", "magnitude"} and found["audio"] < 1e-3
    with pytest.raises(ExportValidationError, match=r"'magnitude' made of its outputs"):
        _compare(rule, "case", names, parts(magnitude * 1.01, angle), want)
    with pytest.raises(ExportValidationError, match=r"'audio' made of its outputs"):
        _compare(rule, "case", names, parts(magnitude, angle + 0.3), want)


# -- the frame clock -----------------------------------------------------------------------------


def _steady_spectrum(net: Any, frames: int = 40) -> np.ndarray:
    """The complex spectrum ``(bins, frames)`` the network makes of one mel frame repeated."""
    mel = torch.randn(1, AUDIO.n_mels, 1, generator=torch.Generator().manual_seed(1)) - 4
    with torch.no_grad():
        real, imag = net.eval().spectrum(mel.expand(1, -1, frames).contiguous())
    return (real + 1j * imag)[0].numpy()


def test_without_the_clock_a_steady_mel_makes_the_same_phase_every_frame():
    """What the clock is for: a convolution over a steady mel repeats itself, so bin ``k``
    cannot advance by its centre frequency's ``2π k hop / n_fft`` per frame. With the clock the
    interior frames repeat every ``n_fft / hop`` frames and no sooner."""
    period = AUDIO.n_fft // AUDIO.hop_length
    plain = _steady_spectrum(
        _trained_looking(attrs.evolve(SMALL, output="spectrum")).modules["generator"]
    )
    inner = slice(10, 30)  # away from the zero padding at the ends
    np.testing.assert_allclose(plain[:, inner], plain[:, 10:11].repeat(20, 1), rtol=1e-4, atol=1e-4)
    clocked = _steady_spectrum(
        _trained_looking(attrs.evolve(SMALL, output="spectrum", frame_clock=True)).modules[
            "generator"
        ]
    )
    np.testing.assert_allclose(clocked[:, 10:26], clocked[:, 14:30], rtol=1e-4, atol=1e-4)
    for shift in range(1, period):
        assert np.abs(clocked[:, 10:20] - clocked[:, 10 + shift : 20 + shift]).max() > 1e-2


@pytest.mark.parametrize(
    ("option", "tensors"),
    [
        ({"frame_clock": True}, ["clock.embed.bias", "clock.embed.weight"]),
        ({"integrated_phase": True}, ["integrator.advance.bias", "integrator.advance.weight"]),
        (
            {"harmonic_below_hz": 1000.0},
            [f"harmonic.{p}.{t}" for p in ("direction", "f0") for t in ("bias", "weight")],
        ),
    ],
)
def test_a_part_that_starts_at_zero_lets_a_network_without_it_continue_unchanged(option, tensors):
    """A checkpoint trained without the frame clock, the phase integrator or the harmonic
    phase loads into a network with it (the part's tensors are the only missing ones) and
    makes the same spectrum."""
    plain = build_net(attrs.evolve(SMALL, output="spectrum"), AUDIO)
    grown = build_net(attrs.evolve(SMALL, output="spectrum", **option), AUDIO)
    result = grown.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(result.missing_keys) == tensors
    assert not result.unexpected_keys
    mel = torch.randn(2, AUDIO.n_mels, 17) - 4
    with torch.no_grad():
        for a, b in zip(plain.eval().spectrum(mel), grown.eval().spectrum(mel), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bin_rotation_turns_each_bin_as_a_tone_at_its_centre_advances():
    """The STFT of a tone at bin ``k``'s centre frequency, over the turn the rotation gives
    bin ``k``, stays the same from frame to frame: relative to the rotation, that tone's phase
    stands still. Without the turn it would advance by ``2π k hop / n_fft`` a frame."""
    from autovoice.training.features import LogMel
    from autovoice_models.istft.model import BinRotation

    rotation = BinRotation(AUDIO.n_fft, AUDIO.hop_length)
    assert rotation.period == AUDIO.n_fft // AUDIO.hop_length
    frames = 48
    ones = torch.ones(1, AUDIO.n_fft // 2 + 1, frames)
    r, i = rotation(ones, torch.zeros_like(ones))
    n = np.arange(frames * AUDIO.hop_length)
    for k in (3, 37, 101):
        tone = np.cos(2 * np.pi * k * n / AUDIO.n_fft)
        spectrum = LogMel(AUDIO).spectrum(torch.tensor(tone, dtype=torch.float32)[None])[0]
        relative = spectrum[k, 4:40] / torch.complex(r[0, k, 4:40], i[0, k, 4:40])
        turn = torch.angle(relative[1:] / relative[:-1])
        assert float(turn.abs().max()) < 1e-3, k
        raw = torch.angle(spectrum[k, 5:40] / spectrum[k, 4:39])
        assert float(raw.abs().max()) > 0.1 or k % rotation.period == 0


def test_bin_rotation_keeps_the_magnitude_and_needs_no_weights():
    """The rotation is a unit turn with no parameters: a network with it has the same tensors
    as one without, and the same magnitude."""
    plain = build_net(attrs.evolve(SMALL, output="spectrum"), AUDIO)
    turned = build_net(attrs.evolve(SMALL, output="spectrum", bin_rotation=True), AUDIO)
    result = turned.load_state_dict(plain.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    mel = torch.randn(2, AUDIO.n_mels, 17) - 4
    with torch.no_grad():
        a = torch.complex(*plain.eval().spectrum(mel))
        b = torch.complex(*turned.eval().spectrum(mel))
    torch.testing.assert_close(a.abs(), b.abs(), rtol=1e-5, atol=1e-6)
    assert float((torch.angle(a) - torch.angle(b)).abs().max()) > 0.5


# -- the integrated phase --------------------------------------------------------------------------


def _tone_net(frequency: float, *, integrated: bool):
    """A network whose heads ignore the backbone (weights zero) and whose biases make a steady
    frame: the magnitude and phase of one frame of a tone at ``frequency`` and, integrated, the
    tone's phase advance per frame in every bin. Fed zeros, the envelope is constant."""
    from autovoice_models.istft.model import LOG_MAGNITUDE_MAX

    features = LogMel(AUDIO)
    n = np.arange(64 * AUDIO.hop_length)
    tone = torch.tensor(0.3 * np.cos(2 * np.pi * frequency * n / AUDIO.sample_rate))
    spectrum = features.spectrum(tone.float()[None])[0]
    frame = spectrum[:, 30]
    advance = torch.angle(spectrum[:, 31] * spectrum[:, 30].conj())  # 0 where a bin is 0
    net = build_net(attrs.evolve(SMALL, output="spectrum", integrated_phase=integrated), AUDIO)
    mel = torch.zeros(1, AUDIO.n_mels, 64)
    with torch.no_grad():
        envelope = net.envelope(mel)[0, :, 0]
        net.head.weight.zero_()
        log_magnitude = torch.log(frame.abs().clamp(min=1e-9)).clamp(max=LOG_MAGNITUDE_MAX)
        net.head.bias.copy_(torch.cat([log_magnitude - envelope, frame.real, frame.imag]))
        if integrated:
            net.integrator.advance.weight.zero_()
            net.integrator.advance.bias.copy_(advance)
        wave = net.eval().waveform(mel)[0].double()
    return wave, tone


@pytest.mark.parametrize("frequency", [200.0, 313.7])
def test_a_steady_advance_makes_a_steady_tone_off_the_frame_rate_grid(frequency):
    """The same network output every frame: with the advance summed it is the tone itself
    (between bins and off the multiples of sample_rate / hop, 86 Hz); without, the frames'
    phases disagree and the overlap-add is another sound."""
    inner = slice(8 * AUDIO.hop_length, 56 * AUDIO.hop_length)

    def correlation(wave, tone):
        return max(
            float(np.corrcoef(wave[inner].numpy(), np.roll(tone.numpy(), lag)[inner])[0, 1])
            for lag in range(-AUDIO.n_fft, AUDIO.n_fft)
        )

    integrated, tone = _tone_net(frequency, integrated=True)
    steady, _ = _tone_net(frequency, integrated=False)
    assert correlation(integrated, tone) > 0.999
    assert correlation(steady, tone) < 0.9
    # and the integrated one keeps the tone's level, where the steady frames cancel
    level = float(tone[inner].std())
    assert abs(float(integrated[inner].std()) / level - 1) < 0.02


def test_the_integrated_phase_is_the_running_sum_of_the_advance_and_never_looks_back():
    """Frame ``t`` is turned by the sum of the advances of frames ``0 .. t``; what comes after
    a frame (padding, say) does not change it."""
    net = _trained_looking(attrs.evolve(SMALL, output="spectrum", integrated_phase=True))
    net = net.modules["generator"].eval()
    features = torch.randn(2, 30, 32)
    with torch.no_grad():
        angle = net.integrator(features)
        advance = net.integrator.advance(features).transpose(1, 2)
        shorter = net.integrator(features[:, :20])
    torch.testing.assert_close(angle[..., 5], advance[..., :6].sum(-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(angle[..., :20], shorter, rtol=0, atol=0)


@pytest.mark.parametrize(
    "option",
    [
        {"integrated_phase": True},
        {"harmonic_below_hz": 1000.0, "harmonic_only": True},
    ],
)
def test_a_summed_phase_leaves_the_instantaneous_phase_loss_out(option):
    """Its absolute phase drifts by the sum of the advance's errors: only the differences are
    asked for. The same losses, weighted with and without the option (and a harmonic phase
    added to the direct one keeps it)."""
    from autovoice_models.istft.recipe import IstftTraining

    losses = {
        name: torch.tensor(value)
        for name, value in {
            "magnitude_loss": 0.0,
            "ip_loss": 1.0,
            "gd_loss": 0.25,
            "iaf_loss": 0.5,
            "spectrum_loss": 0.0,
            "consistency_loss": 0.0,
            "mel_loss": 0.0,
            "stft_loss": 0.0,
        }.items()
    }
    weights = {"phase_loss_weight": 2.0}
    cases = [({}, 2.0 * 1.75), (option, 2.0 * 0.75), ({"harmonic_below_hz": 1000.0}, 2.0 * 1.75)]
    for chosen, want in cases:
        options = attrs.evolve(SMALL, **chosen, **weights)
        run = IstftTraining(build_net(options, AUDIO), AUDIO, options)
        value = float(run.weighted({**losses, "f0_loss": torch.tensor(0.0)}))
        assert value == pytest.approx(want), chosen


def test_harmonic_only_gives_the_low_bins_the_locked_phase_alone():
    """Below the cutoff an untrained network's phase is each harmonic in cosine phase, turning
    at its harmonic's rate, whatever the direct head says; above, the direct phase."""
    options = attrs.evolve(SMALL, output="spectrum", harmonic_below_hz=1000.0, harmonic_only=True)
    net = _trained_looking(options).modules["generator"].eval()
    with torch.no_grad():
        net.harmonic.direction.weight.zero_()
        net.harmonic.direction.bias.zero_()
        net.harmonic.direction.bias[: net.harmonic.bins] = 1.0
        net.harmonic.f0.weight.zero_()
        net.harmonic.f0.bias.fill_(math.log(200.0))
        mel = torch.randn(1, AUDIO.n_mels, 30) - 4
        _, r, i, _ = net.predict(mel)
        plain = build_net(attrs.evolve(options, harmonic_below_hz=0.0), AUDIO)
        plain.load_state_dict(net.state_dict(), strict=False)
        _, pr, pi = plain.eval()(mel)
    low = net.harmonic.bins
    advance = torch.angle(
        torch.complex(r[0, :low, 1:], i[0, :low, 1:])
        / torch.complex(r[0, :low, :-1], i[0, :low, :-1])
    )
    hz = np.arange(low) * AUDIO.sample_rate / AUDIO.n_fft
    want = (
        np.maximum(np.round(hz / 200.0), 1)
        * 2
        * np.pi
        * 200.0
        * AUDIO.hop_length
        / AUDIO.sample_rate
    )
    assert np.abs(np.angle(np.exp(1j * (advance.numpy() - want[:, None])))).max() < 1e-3
    torch.testing.assert_close(r[:, low:], pr[:, low:])
    torch.testing.assert_close(i[:, low:], pi[:, low:])
    # an untrained harmonic-only network starts in cosine phase, not at a zero direction
    fresh = build_net(options, AUDIO)
    assert float(fresh.harmonic.direction.bias[: fresh.harmonic.bins].min()) == 1.0


# -- the harmonic phase ----------------------------------------------------------------------------


def _harmonic(f0: float):
    """A harmonic phase below 1 kHz whose f0 head predicts ``f0`` and whose own direction is
    ``(1, 0)`` in every bin, whatever the features."""
    from autovoice_models.istft.model import HarmonicPhase

    part = HarmonicPhase(16, AUDIO, 1000.0)
    with torch.no_grad():
        part.f0.bias.fill_(math.log(f0))
        part.direction.bias[: part.bins] = 1.0
    return part


def test_the_harmonic_phase_turns_each_bin_at_its_harmonics_frequency():
    """Bin ``k`` advances by ``h 2π f0 hop / sample_rate`` a frame, ``h`` the harmonic
    nearest its centre: the bins of one harmonic together, and the harmonics in step."""
    f0 = 203.7
    part = _harmonic(f0)
    assert part.bins == int(np.ceil(1000.0 / (AUDIO.sample_rate / AUDIO.n_fft)))
    features = torch.randn(2, 40, 16)
    with torch.no_grad():
        log_f0 = part.log_f0(features)
        r, i = part(features, log_f0)
    torch.testing.assert_close(log_f0, torch.full((2, 40), math.log(f0)))
    advance = torch.angle(
        torch.complex(r[..., 1:], i[..., 1:]) / torch.complex(r[..., :-1], i[..., :-1])
    )
    hz = np.arange(part.bins) * AUDIO.sample_rate / AUDIO.n_fft
    harmonic = np.maximum(np.round(hz / f0), 1)
    want = harmonic * 2 * np.pi * f0 * AUDIO.hop_length / AUDIO.sample_rate
    error = np.angle(np.exp(1j * (advance.numpy() - want[None, :, None])))
    assert np.abs(error).max() < 1e-3
    # bins 8 to 11 (172 to 237 Hz) are the first harmonic's: they turn as one
    assert len(set(harmonic[8:12])) == 1


def test_the_harmonic_phase_stays_exact_over_a_long_utterance():
    """The fundamental's phase is kept modulo 2π: after 20000 frames (four minutes) every
    bin still advances by its harmonic's step to float32 rounding."""
    f0 = 251.3
    part = _harmonic(f0)
    with torch.no_grad():
        r, i = part(torch.zeros(1, 20000, 16), part.log_f0(torch.zeros(1, 20000, 16)))
    z = torch.complex(r[..., -50:], i[..., -50:]).to(torch.complex128)
    advance = torch.angle(z[..., 1:] / z[..., :-1]).numpy()
    hz = np.arange(part.bins) * AUDIO.sample_rate / AUDIO.n_fft
    want = np.maximum(np.round(hz / f0), 1) * 2 * np.pi * f0 * AUDIO.hop_length / AUDIO.sample_rate
    assert np.abs(np.angle(np.exp(1j * (advance - want[None, :, None])))).max() < 0.05


@pytest.mark.parametrize("frames", [1, 63, 64, 65, 3000])
def test_the_running_sum_of_turns_is_exact_modulo_one_turn(frames):
    from autovoice_models.istft.model import running_turns

    rng = np.random.default_rng(frames)
    turns = rng.uniform(0, 8, (2, frames))
    got = running_turns(torch.tensor(turns, dtype=torch.float32)).double().numpy()
    want = np.cumsum(turns.astype(np.float32).astype(np.float64), axis=1) % 1.0
    error = np.abs(got - want)
    assert np.minimum(error, 1 - error).max() < 1e-4
    assert got.min() >= 0 and got.max() < 1


def test_the_f0_loss_counts_voiced_frames_only():
    from autovoice_models.istft.recipe import f0_loss

    pitch = torch.tensor([[0.0, 100.0, 200.0, 0.0]])
    log_f0 = torch.log(torch.tensor([[50.0, 100.0, 100.0, 400.0]]))
    assert float(f0_loss(log_f0, pitch)) == pytest.approx(math.log(2.0) / 2)
    assert float(f0_loss(log_f0, torch.zeros(1, 4))) == 0.0


def test_the_harmonic_recipe_trains_its_f0_and_needs_the_pitch(tmp_path):
    from autovoice.audio.pitch import estimate_pitch

    torch.manual_seed(0)
    batch = speech_batch(tmp_path / "corpus", size=2)
    frames = batch["audio_mels"].shape[-1]
    batch["audio_pitch"] = torch.from_numpy(
        np.stack([
            estimate_pitch(a.numpy(), sample_rate=AUDIO.sample_rate,
                           hop_length=AUDIO.hop_length, n_frames=frames)
            for a in batch["audio"]
        ])
    )  # fmt: skip
    assert float((batch["audio_pitch"] > 0).float().mean()) > 0.05
    options = attrs.evolve(SMALL, harmonic_below_hz=1000.0)
    recipe = build_recipe(options, audio=AUDIO, training=TrainingConfig())
    assert "audio_pitch" in recipe.batch_keys
    optimizer = _optimizer(recipe, "gen")
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        out = recipe.steps[0].loss(batch, {})
        out["loss"].backward()
        optimizer.step()
        losses.append(float(out["f0_loss"]))
    assert losses[-1] < 0.6 * losses[0], losses
    del batch["audio_pitch"]
    with pytest.raises(ConfigError, match=r"\$\.data\.options\.pitch"):
        recipe.steps[0].loss(batch, {})


def test_the_locked_phase_sends_no_gradient_to_the_f0():
    """f0 learns from its own loss only: the locked direction's gradient stops at it."""
    part = _harmonic(180.0)
    features = torch.randn(1, 12, 16)
    log_f0 = part.log_f0(features)
    r, i = part(features, log_f0)
    (r.sum() + i.sum()).backward()
    assert part.f0.weight.grad is None or float(part.f0.weight.grad.abs().max()) == 0.0
    assert float(part.direction.weight.grad.abs().max()) > 0
