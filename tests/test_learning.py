"""The built-in models really learn on the demo corpus, driven by the generic trainer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from autovoice.config import Config, apply_overrides
from autovoice.corpus.demo import make_demo_corpus
from autovoice.plugins import Registry
from autovoice.training.build import build_trainer
from autovoice.training.runtime import Runtime

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    make_demo_corpus(out, speakers=2, sentences=40, seed=3)
    return out


def trainer_for(corpus: Path, out: Path, stage: str, *overrides: str):
    config = apply_overrides(
        Config(),
        [
            f"data.corpus='{corpus}'",
            f"data.cache_dir='{out / 'cache'}'",
            "data.val_fraction=0.1",
            "training.device='cpu'",
            f"training.output_dir='{out}'",
            "training.log_every=1000",
            *overrides,
        ],
    )
    runtime = Runtime(torch.device("cpu"), "fp32")
    return build_trainer(
        config, stage=stage, registry=Registry.discover(), runtime=runtime, progress=False
    )


def alignment_stats(trainer) -> tuple[float, float]:
    """On a validation batch: the fraction of frames where the soft attention's argmax steps back
    along the text, and where it lies within one token of the hard (MAS) path; the hard path
    itself must be monotonic and give every token at least one frame."""
    model = trainer.modules["model"].eval()
    batch = trainer.to_device(next(iter(trainer.loaders["val"])))
    with torch.no_grad():
        out = model.run_teacher_forced(batch)
    soft, hard = out.log_probs.exp(), out.hard  # (B, frames, tokens)
    backward, near = [], []
    for i in range(soft.shape[0]):
        frames, tokens = int(batch["mel_lengths"][i]), int(batch["token_lengths"][i])
        hard_path = hard[i, :frames, :tokens].argmax(-1).numpy()
        durations = hard[i, :frames, :tokens].sum(0).numpy()
        assert np.all(np.diff(hard_path) >= 0) and np.all(durations >= 1)
        soft_path = soft[i, :frames, :tokens].argmax(-1).numpy()
        backward.append(np.mean(np.diff(soft_path) < 0))
        near.append(np.mean(np.abs(soft_path - hard_path) <= 1))
    return float(np.mean(backward)), float(np.mean(near))


def test_tiny_acoustic_model_halves_its_validation_loss_and_aligns(corpus, tmp_path):
    trainer = trainer_for(
        corpus,
        tmp_path,
        "acoustic",
        "data.options.segment_size=0",
        "model.options.preset='tiny'",
        "training.batch_size=8",
        "training.learning_rate=1e-3",
        "training.warmup_steps=50",
        "training.max_steps=200",
        "training.val_every=200",
        "training.checkpoint_every=200",
    )
    before = trainer.validate()
    after = trainer.fit().metrics
    assert after["val_loss"] <= 0.5 * before["val_loss"], (before, after)
    assert after["forward_sum_loss"] <= 0.8 * before["forward_sum_loss"], (before, after)

    backward, near = alignment_stats(trainer)
    # measured on the demo corpus after 200 steps: ~9% of frames step back (jitter between
    # neighbouring tokens) and ~82% lie within one token of the hard path
    assert backward <= 0.2, backward
    assert near >= 0.6, near


def test_vocoder_lowers_the_mel_loss_of_generated_audio(corpus, tmp_path):
    """A few hundred spectral steps of a narrow HiFi-GAN on the demo corpus' recordings."""
    trainer = trainer_for(
        corpus,
        tmp_path,
        "vocoder",
        "data.options.segment_size=4096",
        "data.options.pitch=false",
        "vocoder.options.preset='v3'",
        "vocoder.options.upsample_initial_channel=64",
        "vocoder.options.segment_size=4096",
        "vocoder.options.discriminators='none'",
        "training.batch_size=4",
        "training.learning_rate=2e-3",
        "training.max_steps=200",
        "training.val_every=200",
        "training.checkpoint_every=200",
        "training.grad_clip=0",
    )
    before = trainer.validate()["mel_loss"]
    after = trainer.fit().metrics["mel_loss"]
    assert after < 0.7 * before, (before, after)
