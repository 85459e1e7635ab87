"""``autovoice train`` for every stage, resume, and fine-tuning on predicted mels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from autovoice.cli import main
from autovoice.corpus.demo import make_demo_corpus
from autovoice.training.checkpoints.manager import CheckpointManager

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("run")
    make_demo_corpus(root / "corpus", speakers=2, sentences=8, seed=1)
    (root / "voice.toml").write_text(
        f"""
[data]
corpus = "{root / "corpus"}"
cache_dir = "{root / "cache"}"
val_fraction = 0.15
min_duration = 0.1

[data.options]
segment_size = 2048

[model.options]
preset = "tiny"

[vocoder.options]
preset = "v3"
segment_size = 2048
upsample_initial_channel = 32
discriminators = "none"

[training]
output_dir = "{root / "out"}"
batch_size = 4
max_steps = 3
val_every = 3
checkpoint_every = 3
device = "cpu"
"""
    )
    return root


def steps(directory: Path) -> list[int]:
    return [r.step for r in CheckpointManager(directory, recover=False).list_checkpoints()]


def train(run: Path, *args: str) -> None:
    assert main(["train", str(run / "voice.toml"), "--quiet", *args]) == 0


def newest_weights(directory: Path) -> dict[str, dict[str, torch.Tensor]]:
    manager = CheckpointManager(directory, recover=False)
    _, weights, _ = manager.read(manager.list_checkpoints()[-1].name)
    return weights


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = newest_weights(a), newest_weights(b)
    assert first.keys() == second.keys()
    for module in first:
        assert first[module].keys() == second[module].keys()
        for name, tensor in first[module].items():
            assert torch.equal(tensor, second[module][name]), f"{module}.{name}"


@pytest.mark.parametrize(
    ("stage", "settings"),
    [
        ("acoustic", ("training.warmup_steps=4",)),  # a noam warm-up across the interruption
        ("vocoder", ("vocoder.options.discriminators='mpd+msd'",)),  # a GAN: two optimizers
    ],
)
def test_a_resumed_run_is_bit_identical_to_a_straight_one(run, capsys, stage, settings):
    sets = [arg for s in settings for arg in ("--set", s)]
    straight = ["--set", f"training.output_dir='{run / 'straight' / stage}'"]
    train(run, "--stage", stage, *sets, *straight, "--set", "training.max_steps=5")
    cut = ["--set", f"training.output_dir='{run / 'cut' / stage}'"]
    train(run, "--stage", stage, *sets, *cut)
    where = run / "cut" / stage / stage / "checkpoints"
    assert steps(where) == [3]
    saved = (where / "step-000000003" / "meta.json").read_bytes()
    train(run, "--stage", stage, *sets, *cut, "--resume", "latest", "--set", "training.max_steps=5")
    assert steps(where) == [3, 5]
    # a fresh run to step 5 would end alike; only a resumed one leaves step 3 as it was
    assert (where / "step-000000003" / "meta.json").read_bytes() == saved
    assert f"{stage}: step 5" in capsys.readouterr().out
    assert_same_weights(run / "straight" / stage / stage / "checkpoints", where)


def test_acoustic_stage_trains_and_resumes(run, capsys):
    train(run, "--stage", "acoustic")
    assert steps(run / "out" / "acoustic" / "checkpoints") == [3]
    train(run, "--stage", "acoustic", "--resume", "latest", "--set", "training.max_steps=5")
    assert steps(run / "out" / "acoustic" / "checkpoints") == [3, 5]
    assert "acoustic: step 5" in capsys.readouterr().out
    changed = ["--set", "training.max_steps=7", "--set", "training.learning_rate=0.5"]
    args = ["train", str(run / "voice.toml"), "--quiet", "--resume", "latest", *changed]
    assert main(args) != 0  # refused: the learning rate is not the checkpoint's
    err = capsys.readouterr().err
    assert "training.learning_rate: 0.001 -> 0.5" in err and "Traceback" not in err
    assert steps(run / "out" / "acoustic" / "checkpoints") == [3, 5]
    assert main([*args, "--allow-config-change"]) == 0
    assert steps(run / "out" / "acoustic" / "checkpoints") == [3, 5, 6, 7]


def test_vocoder_then_finetune_on_predicted_mels(run):
    if not steps(run / "out" / "acoustic" / "checkpoints"):
        train(run, "--stage", "acoustic")
    train(run, "--stage", "vocoder")
    vocoder_dir = run / "out" / "vocoder" / "checkpoints"
    assert steps(vocoder_dir) == [3]

    train(
        run,
        "--stage",
        "finetune-vocoder",
        "--set",
        "training.max_steps=1",
        "--set",
        "training.learning_rate=1e-12",
    )
    mel_dir = run / "out" / "finetune-vocoder" / "predicted-mels"
    files = sorted(mel_dir.glob("*.npy"))
    assert len(files) == 16  # every utterance of the corpus, both speakers
    recorded = np.load(next((run / "cache").rglob("*.mel.npy")))
    assert np.load(files[0]).shape[0] == recorded.shape[0]  # n_mels

    # warm start: with a vanishing learning rate the fine-tuned generator is the vocoder's
    def generator(directory: Path) -> dict[str, torch.Tensor]:
        manager = CheckpointManager(directory, recover=False)
        _, weights, _ = manager.read(manager.list_checkpoints()[-1].name)
        return weights["generator"]

    before = generator(vocoder_dir)
    after = generator(run / "out" / "finetune-vocoder" / "checkpoints")
    assert before.keys() == after.keys()
    for key in before:
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=1e-6)
