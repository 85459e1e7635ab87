"""The voice converter's parts: options, the model's masking and statistics, its training
losses, the stage it trains as, and the checks of recordings given for conversion."""

from __future__ import annotations

import math

import attrs
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autovoice.config import AudioConfig, Config, apply_overrides
from autovoice.config.load import resolve_plugins
from autovoice.errors import AutovoiceError, ConfigError
from autovoice.inference import InferenceError
from autovoice.inference.convert import CLIP_LEVEL, checked_wave, source_mel
from autovoice.plugins import Registry
from autovoice.training.stages import build_recipe
from autovoice_models.voice_converter import SPEC, VoiceConverterOptions, model_kwargs
from autovoice_models.voice_converter.model import VoiceConverter, random_segments
from autovoice_models.voice_converter.stats import SpeakerStats

FLOOR = math.log(1e-5)
SMALL = {
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "heads": 2,
    "ff_dim": 64,
    "ff_kernel": 3,
    "bottleneck_dim": 8,
    "dropout": 0.0,
}


def small_model(**extra) -> VoiceConverter:
    torch.manual_seed(0)
    return VoiceConverter(n_mels=16, n_speakers=3, mel_pad_value=FLOOR, **{**SMALL, **extra})


def random_mels(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return -6.0 + 2.0 * torch.randn(batch, 16, frames, generator=generator)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these models are tiny, and the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@attrs.frozen
class _Info:
    n_symbols: int = 10
    n_speakers: int = 2


# -- options -------------------------------------------------------------------------------------


def test_the_plugin_is_registered_with_its_options():
    registry = Registry.discover()
    assert registry.get("model", "voice_converter") is SPEC
    kwargs = model_kwargs(VoiceConverterOptions(preset="tiny", d_model=96, bottleneck_dim=12))
    assert kwargs["d_model"] == 96 and kwargs["bottleneck_dim"] == 12
    assert kwargs["encoder_layers"] == 2 and kwargs["segment_frames"] == 128
    with pytest.raises(ConfigError) as caught:
        model_kwargs(VoiceConverterOptions(d_model=100, heads=3, ff_kernel=4))
    message = str(caught.value)
    assert "$.model.options.heads: must divide d_model (100), got 3" in message
    assert "$.model.options.ff_kernel: must be odd, got 4" in message


def test_a_converter_trains_as_the_converter_stage_only():
    registry = Registry.discover()
    config = apply_overrides(Config(), ["model.name='voice_converter'"])
    config, issues = resolve_plugins(config, registry)
    assert not issues
    recipe = build_recipe(config, "converter", _Info(), registry)
    assert recipe.signature.input_names == ["mel", "mel_lengths", "speakers"]
    with pytest.raises(AutovoiceError, match="train it as stage 'converter'"):
        build_recipe(config, "acoustic", _Info(), registry)
    transformer, _ = resolve_plugins(Config(), registry)
    with pytest.raises(AutovoiceError, match="train it as stage 'acoustic'"):
        build_recipe(transformer, "converter", _Info(), registry)


# -- the model -----------------------------------------------------------------------------------


def test_an_item_converts_the_same_alone_and_in_a_padded_batch():
    model = small_model().eval()
    mels = random_mels(3, 40)
    lengths = torch.tensor([40, 23, 9])
    speakers = torch.tensor([2, 0, 1])
    with torch.no_grad():
        batch = model.convert(mels, lengths, speakers)
        for i, length in enumerate(lengths.tolist()):
            alone = model.convert(
                mels[i : i + 1, :, :length], lengths[i : i + 1], speakers[i : i + 1]
            )
            torch.testing.assert_close(batch[i : i + 1, :, :length], alone, atol=1e-5, rtol=0)
    assert batch.shape == mels.shape
    assert (batch[1, :, 23:] == FLOOR).all() and (batch[2, :, 9:] == FLOOR).all()


def test_the_target_speaker_changes_the_output():
    model = small_model().eval()
    mels, lengths = random_mels(1, 30), torch.tensor([30])
    with torch.no_grad():
        outputs = [model.convert(mels, lengths, torch.tensor([s])) for s in range(3)]
    assert (outputs[0] - outputs[1]).abs().max() > 1e-3


def test_speaker_statistics_are_those_of_the_valid_frames_then_frozen():
    stats = SpeakerStats(n_speakers=2, n_mels=4, batches=1, init_mean=FLOOR).train()
    mels = random_mels(3, 10)[:, :4, :].double()
    mask = torch.arange(10)[None, :] < torch.tensor([10, 6, 4])[:, None]
    speakers = torch.tensor([0, 1, 1])
    stats.update([(mels, mask, speakers)])
    frames_b = torch.cat([mels[1, :, :6], mels[2, :, :4]], dim=1)
    torch.testing.assert_close(stats.mean[1].double(), frames_b.mean(1), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        stats.std[1].double(), frames_b.std(1, unbiased=False), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(stats.mean[0].double(), mels[0].mean(1), atol=1e-5, rtol=0)
    pooled = torch.cat([mels[0], frames_b], dim=1).mean(1)
    torch.testing.assert_close(stats.pooled_mean.double(), pooled, atol=1e-5, rtol=0)
    before = stats.mean.clone()
    stats.update([(mels + 5.0, mask, speakers)])  # past `batches`: frozen
    assert torch.equal(stats.mean, before)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=5), st.integers(1, 20))
def test_random_segments_stay_inside_each_item(lengths, size):
    frames = max(lengths)
    index, cut = random_segments(torch.tensor(lengths), frames, size)
    assert index.shape == (len(lengths), min(size, frames))
    for row, length, kept in zip(index.tolist(), lengths, cut.tolist(), strict=True):
        assert kept == min(length, size)
        assert row[:kept] == list(range(row[0], row[0] + kept))
        assert row[0] >= 0 and row[kept - 1] < length


def test_voice_batches_train_by_reconstruction_and_paired_ones_need_alignment():
    model = small_model(segment_frames=16).train()
    mels, lengths = random_mels(2, 30), torch.tensor([30, 20])
    voice = model({"mels": mels, "mel_lengths": lengths, "speakers": torch.tensor([0, 1])})
    assert set(voice) == {"loss", "reconstruction_loss"}
    assert torch.equal(voice["loss"], voice["reconstruction_loss"])
    paired = {
        "source_mels": mels,
        "source_mel_lengths": lengths,
        "target_mels": random_mels(2, 30, seed=1),
        "target_mel_lengths": lengths,
        "source_speakers": torch.tensor([0, 1]),
        "target_speakers": torch.tensor([1, 2]),
    }
    losses = model(paired)
    expected = losses["conversion_loss"] + 0.5 * losses["reconstruction_loss"]
    torch.testing.assert_close(losses["loss"], expected)
    with pytest.raises(AutovoiceError, match="align = 'dtw'"):
        model({**paired, "target_mels": random_mels(2, 25), "target_mel_lengths": lengths - 5})
    with pytest.raises(AutovoiceError, match="the batch has tokens"):
        model({"tokens": torch.zeros(1, 3)})


def test_a_few_steps_on_one_voice_batch_lower_the_reconstruction_loss():
    model = small_model().train()
    batch = {"mels": random_mels(4, 24), "mel_lengths": torch.tensor([24, 20, 16, 12])}
    batch["speakers"] = torch.tensor([0, 1, 2, 0])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = model(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[1], losses


# -- recordings given for conversion -------------------------------------------------------------


def tone(seconds: float, rate: int, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


def test_recordings_are_resampled_to_the_voice_rate():
    audio = AudioConfig()
    for rate in (8000, 16000, 44100):
        mel = source_mel(tone(1.0, rate), rate, audio, max_frames=0)
        assert mel.shape[0] == 80
        assert abs(mel.shape[1] - audio.sample_rate / audio.hop_length) <= 2
    stereo = np.stack([tone(0.5, 16000), tone(0.5, 16000)], axis=1)
    assert checked_wave(stereo, 16000).shape == (8000,)
    pcm = (tone(0.5, 16000) * 32767).astype(np.int16)
    np.testing.assert_allclose(checked_wave(pcm, 16000), tone(0.5, 16000), atol=1e-4)


def test_bad_recordings_are_refused_with_the_reason():
    audio = AudioConfig()
    cases = [
        (np.zeros(16000, np.float32), 16000, "x: silent"),
        (tone(1.0, 16000, level=1e-4), 16000, "x: silent"),
        (np.clip(tone(1.0, 16000, level=3.0), -1, 1), 16000, "x: clipped"),
        (np.full(100, np.nan, np.float32), 16000, "x: holds NaN"),
        (np.zeros((2, 2, 2), np.float32), 16000, "x: expected .* got shape"),
        ([0.1, 0.2], 16000, "x: expected a numpy array"),
        (tone(1.0, 16000), 16000.0, "sample_rate must be an integer"),
        (tone(0.01, 16000), 16000, "x: too short"),
        (tone(3.0, 16000), 16000, r"x: 3\.0 s long, more than this voice converts at once"),
    ]
    for wave, rate, message in cases:
        with pytest.raises(InferenceError, match=message):
            source_mel(wave, rate, audio, max_frames=200, where="x")
    assert np.abs(tone(1.0, 16000)).max() < CLIP_LEVEL  # a normal level passes
    source_mel(tone(1.0, 16000), 16000, audio, max_frames=200)
