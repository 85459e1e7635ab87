"""``training.seed``: two runs of one config give bit-identical weights and losses on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from autovoice.config import load_config
from autovoice.corpus.demo import make_demo_corpus
from autovoice.training.build import build_trainer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seeded")
    make_demo_corpus(root / "corpus", speakers=2, sentences=6, seed=3)
    return root


def _config_file(root: Path, out: str, seed: int) -> Path:
    path = root / f"{out}.toml"
    path.write_text(
        f"""
[data]
corpus = "{root / "corpus"}"
val_fraction = 0.2
min_duration = 0.1

[model.options]
preset = "tiny"

[training]
output_dir = "{root / out}"
batch_size = 4
max_steps = 3
val_every = 3
checkpoint_every = 3
device = "cpu"
seed = {seed}
"""
    )
    return path


def _train(root: Path, out: str, seed: int) -> tuple[dict[str, torch.Tensor], tuple[float, ...]]:
    config = load_config(_config_file(root, out, seed))
    trainer = build_trainer(config, stage="acoustic", progress=False)
    initial = {k: v.detach().clone() for k, v in trainer.modules["model"].state_dict().items()}
    result = trainer.fit()
    final = trainer.modules["model"].state_dict()
    weights = {**{f"initial.{k}": v for k, v in initial.items()}, **final}
    return weights, result.train_losses


def test_one_seed_gives_bit_identical_weights_and_losses(corpus):
    torch.manual_seed(99)  # whatever the process drew before must not matter
    first, first_losses = _train(corpus, "a", seed=7)
    torch.rand(1000)
    second, second_losses = _train(corpus, "b", seed=7)
    assert first.keys() == second.keys()
    different = [k for k in first if not torch.equal(first[k], second[k])]
    assert not different, f"weights differ between two runs with one seed: {different[:5]}"
    assert first_losses == second_losses
    assert len(first_losses) == 3


def test_another_seed_gives_other_initial_weights(corpus):
    first, _ = _train(corpus, "c", seed=7)
    second, _ = _train(corpus, "d", seed=8)
    initial = [k for k in first if k.startswith("initial.") and first[k].is_floating_point()]
    assert any(not torch.equal(first[k], second[k]) for k in initial)
