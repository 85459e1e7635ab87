"""The adversarial mel loss option of VoiceTransformer: a discriminator beside the model, its
loss in the model's total, trained on recorded against decoded mels, absent from the export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autovoice.config.schema import TrainingConfig
from autovoice_models.voice_transformer.adversarial import MelDiscriminator
from autovoice_models.voice_transformer.spec import SPEC, VoiceTransformerOptions, model_kwargs
from tests.test_voice_transformer import AUDIO, N_MELS, N_SYMBOLS, patterns_for, synthetic_batch


def recipe(weight: float):
    options = VoiceTransformerOptions(
        preset="tiny", d_model=64, ff_dim=128, aligner_dim=32, dropout=0.0,
        adversarial_weight=weight, discriminator_channels=8,
    )  # fmt: skip
    torch.manual_seed(0)
    return SPEC.create(
        options, audio=AUDIO, n_symbols=N_SYMBOLS, n_speakers=3, training=TrainingConfig()
    )


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return synthetic_batch(rng, patterns_for(rng), batch=3)[0]


def test_without_a_weight_there_is_no_discriminator():
    plain = recipe(0.0)
    assert set(plain.modules) == {"model"} and len(plain.steps) == 1
    assert "adversarial_weight" not in model_kwargs(VoiceTransformerOptions(adversarial_weight=1))


def test_the_model_loss_adds_the_weighted_adversarial_loss(batch):
    gan = recipe(0.5)
    assert set(gan.modules) == {"model", "discriminator"}
    assert [s.name for s in gan.steps] == ["model", "discriminator"]
    assert [o.name for o in gan.optimizers] == ["model", "discriminator"]
    scratch: dict = {}
    losses = gan.steps[0].loss(batch, scratch)
    parts = sum(v for k, v in losses.items() if k not in ("loss", "adversarial_loss"))
    plain = recipe(0.0).steps[0].loss(batch, {})  # same seed: the same model
    assert float(losses["mel_loss"]) == pytest.approx(float(plain["mel_loss"]), rel=1e-6)
    assert float(losses["loss"]) == pytest.approx(
        float(plain["loss"]) + 0.5 * float(losses["adversarial_loss"]), rel=1e-5
    )
    assert float(parts) > 0 and scratch["fake"].requires_grad is False
    losses["loss"].backward()
    assert all(p.grad is not None for p in gan.modules["model"].parameters())
    assert all(p.grad is not None for p in gan.modules["discriminator"].parameters())


def test_the_discriminator_learns_recorded_from_decoded(batch):
    gan = recipe(0.5)
    scratch: dict = {}
    gan.steps[0].loss(batch, scratch)
    discriminator = gan.modules["discriminator"]
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
    first = None
    for _ in range(30):
        optimizer.zero_grad()
        loss = gan.steps[1].loss(batch, scratch)
        first = float(loss["loss"]) if first is None else first
        loss["loss"].backward()
        optimizer.step()
    final = gan.steps[1].loss(batch, scratch)
    assert float(final["loss"]) < 0.5 * first
    assert float(final["real"]) < 0.25 and float(final["fake"]) < 0.25


def test_scores_keep_one_column_per_frame():
    scores = MelDiscriminator(channels=4)(torch.zeros(2, N_MELS, 37))
    assert scores.shape[0] == 2 and scores.shape[2] == 37


def test_the_export_holds_no_discriminator():
    exported = recipe(0.5).export_module()
    names = [name for name, _ in exported.named_modules()]
    assert not any("discriminator" in name for name in names)
