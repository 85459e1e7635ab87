"""The generic trainer with a small recipe: learning, accumulation, guards, exact resume, logs."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import torch

from autovoice.config import Config, apply_overrides
from autovoice.corpus.demo import make_demo_corpus
from autovoice.plugins import Registry
from autovoice.signature import vocoder_signature
from autovoice.training.checkpoints.manager import CheckpointManager
from autovoice.training.data import create_dataloaders
from autovoice.training.recipe import OptimizerSpec, Recipe, TrainStep
from autovoice.training.runtime import Runtime
from autovoice.training.tracking import Tracker
from autovoice.training.trainer import Trainer, TrainingError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    make_demo_corpus(out, speakers=2, sentences=12, seed=0)
    return out


def make_config(corpus: Path, out: Path, *extra: str) -> Config:
    return apply_overrides(
        Config(),
        [
            f"data.corpus='{corpus}'",
            "data.val_fraction=0.2",
            "data.min_duration=0.1",
            "data.options.segment_size=0",
            "data.options.pitch=false",
            "training.batch_size=4",
            "training.max_steps=8",
            "training.val_every=4",
            "training.checkpoint_every=4",
            "training.log_every=1",
            "training.device='cpu'",
            f"training.output_dir='{out}'",
            *extra,
        ],
    )


def toy_recipe(seed: int = 0, nan_at: frozenset[int] = frozenset()) -> Recipe:
    """Predict each utterance's mean mel frame from its speaker and mean token: learnable."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 32), torch.nn.Dropout(0.1), torch.nn.Linear(32, 80)
    )
    calls = {"n": 0}

    def features(batch):
        mask = batch["token_mask"].float()
        mean_token = (batch["tokens"].float() * mask).sum(1) / mask.sum(1) / 40.0
        return torch.stack([batch["speakers"].float(), mean_token], dim=1)

    def target(batch):
        mask = batch["mel_mask"].unsqueeze(1).float()
        return (batch["mels"] * mask).sum(2) / mask.sum(2)

    def loss(batch, scratch):
        calls["n"] += 1
        value = torch.nn.functional.mse_loss(model(features(batch)), target(batch))
        if calls["n"] in nan_at:
            value = value * float("nan")
        return {"loss": value}

    def validate(batch):
        return {
            "val_loss": float(torch.nn.functional.mse_loss(model(features(batch)), target(batch)))
        }

    return Recipe(
        modules={"model": model},
        optimizers=(OptimizerSpec(name="model", modules=("model",), lr=3e-2, schedule="constant"),),
        steps=(TrainStep(name="model", optimizer="model", loss=loss),),
        validate=validate,
        signature=vocoder_signature(80),
        export_module=lambda: model,
        media=lambda batch: {"mel/target": batch["mels"][0].numpy()},
    )


def make_trainer(config: Config, recipe: Recipe, tracker: Tracker | None = None) -> Trainer:
    registry = Registry.discover()
    loaders = create_dataloaders(config, registry=registry)
    checkpoints = CheckpointManager(Path(config.training.output_dir) / "ckpt", max_keep=10)
    return Trainer(
        recipe=recipe,
        loaders=loaders,
        checkpoints=checkpoints,
        config=config,
        runtime=Runtime(torch.device("cpu"), "fp32"),
        symbols=dict(loaders["train"].dataset.info.symbols),
        tracker=tracker,
    )


def test_training_lowers_the_validation_loss_and_saves_checkpoints(corpus, tmp_path):
    config = make_config(
        corpus,
        tmp_path,
        "training.max_steps=40",
        "training.val_every=20",
        "training.checkpoint_every=20",
    )
    trainer = make_trainer(config, toy_recipe())
    before = trainer.validate()["val_loss"]
    result = trainer.fit()
    assert result.step == 40
    assert result.metrics["val_loss"] < 0.5 * before
    records = trainer.checkpoints.list_checkpoints()
    assert [r.step for r in records] == [20, 40]
    assert records[-1].metrics["val_loss"] == pytest.approx(result.metrics["val_loss"])


def test_gradient_accumulation_consumes_that_many_batches(corpus, tmp_path):
    config = make_config(
        corpus,
        tmp_path,
        "training.grad_accumulation=3",
        "training.max_steps=2",
        "training.val_every=100",
        "training.checkpoint_every=100",
    )
    trainer = make_trainer(config, toy_recipe())
    per_epoch = len(trainer.train_loader)
    trainer.fit()
    state = trainer.train_loader.state_dict()
    assert state["epoch"] * per_epoch + state["position"] == 6


@pytest.mark.filterwarnings(r"ignore:Seems like `optimizer.step\(\)` has been overridden")
def test_k_micro_batches_of_b_make_one_step_of_k_times_b(corpus, tmp_path):
    """The gradient an accumulated step applies is that of the whole batch: every micro-batch
    counts, each weighted by its share."""
    loader = make_trainer(
        make_config(corpus, tmp_path / "w", "training.batch_size=6"), toy_recipe()
    ).train_loader
    whole = next(b for b in loader if len(b["speakers"]) == 6)
    parts = [{k: v[i : i + 2] for k, v in whole.items()} for i in (0, 2, 4)]

    def applied_gradient(accumulation: int, batches: list) -> list[torch.Tensor]:
        config = make_config(
            corpus, tmp_path / str(accumulation), f"training.grad_accumulation={accumulation}",
            "training.grad_clip=0",
        )  # fmt: skip
        recipe = toy_recipe()
        recipe.modules["model"][1].p = 0.0  # no dropout: the same function for any batch split
        trainer = make_trainer(config, recipe)
        seen: list[torch.Tensor] = []
        optimizer = trainer.optimizers["model"]
        real_step = optimizer.step

        def step(*args, **kwargs):
            seen.extend(p.grad.clone() for g in optimizer.param_groups for p in g["params"])
            return real_step(*args, **kwargs)

        optimizer.step = step
        trainer.optimizer_step(iter(batches))
        return seen

    one = applied_gradient(1, [whole])
    three = applied_gradient(3, parts)
    assert len(one) == len(three) == 4
    for a, b in zip(one, three, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)
    last_only = applied_gradient(1, parts[-1:])
    assert not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(one, last_only, strict=True))


def test_non_finite_steps_are_skipped_then_training_stops(corpus, tmp_path):
    config = make_config(corpus, tmp_path, "training.val_every=100")
    trainer = make_trainer(config, toy_recipe(nan_at=frozenset({2, 5})))
    weights = [p.detach().clone() for p in trainer.modules["model"].parameters()]
    result = trainer.fit()
    assert result.skipped_steps == 2
    assert not all(
        torch.equal(a, b)
        for a, b in zip(weights, trainer.modules["model"].parameters(), strict=True)
    )
    always_nan = make_trainer(config, toy_recipe(nan_at=frozenset(range(1, 100))))
    always_nan.max_nonfinite = 3
    with pytest.raises(TrainingError, match="4 non-finite steps in a row"):
        always_nan.fit()


def test_resume_continues_exactly(corpus, tmp_path):
    straight = make_trainer(make_config(corpus, tmp_path / "a"), toy_recipe())
    full = straight.fit()

    config = make_config(corpus, tmp_path / "b")
    first = make_trainer(
        attrs.evolve(config, training=attrs.evolve(config.training, max_steps=4)), toy_recipe()
    )
    first.fit()
    second = make_trainer(config, toy_recipe(seed=99))  # different init: must be overwritten
    second.resume("latest")
    rest = second.fit()
    assert first.losses + list(rest.train_losses) == list(full.train_losses)
    for a, b in zip(
        straight.modules["model"].parameters(), second.modules["model"].parameters(), strict=True
    ):
        assert torch.equal(a, b)


def test_tensorboard_logs_losses_metrics_and_media(corpus, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = make_config(corpus, tmp_path)
    tracker = Tracker(tmp_path / "logs", log_every=1, progress=False)
    make_trainer(config, toy_recipe(), tracker).fit()
    events = EventAccumulator(str(tmp_path / "logs"))
    events.Reload()
    tags = events.Tags()
    assert {"train/model/loss", "lr/model", "val/val_loss"} <= set(tags["scalars"])
    assert "mel/target" in tags["images"]
    assert len(events.Scalars("train/model/loss")) == 8


def test_a_checkpoint_carries_only_metrics_of_its_own_weights(corpus, tmp_path):
    config = make_config(
        corpus,
        tmp_path,
        "training.max_steps=20",
        "training.val_every=10",
        "training.checkpoint_every=5",
        "checkpoint.keep_best=1",
    )
    trainer = make_trainer(config, toy_recipe())
    trainer.fit()
    metrics = {r.step: dict(r.metrics) for r in trainer.checkpoints.list_checkpoints()}
    assert metrics[5] == {} and metrics[15] == {}  # not validated: no borrowed val_loss
    assert set(metrics[10]) >= {"val_loss"} and set(metrics[20]) >= {"val_loss"}
    assert metrics[10]["val_loss"] != metrics[20]["val_loss"]
