"""Resuming with a changed configuration: changes that break exact resume or the comparability
of validation metrics are refused, naming each; free ones (how long, how often, where) resume
exactly; allowed ones are applied, the learning rate included."""

from __future__ import annotations

import attrs
import pytest
import torch

from autovoice.training.config_changes import MISSING, binding, config_changes, describe
from autovoice.training.recipe import OptimizerSpec
from autovoice.training.trainer import TrainingError
from tests.test_trainer import corpus, make_config, make_trainer, toy_recipe

__all__ = ["corpus"]  # the fixture, imported for pytest


def recipe_at(lr: float, seed: int = 0):
    """The toy recipe with its peak learning rate taken from the configuration, as real
    recipes take ``training.learning_rate``."""
    recipe = toy_recipe(seed)
    spec = attrs.evolve(recipe.optimizers[0], lr=lr)
    return attrs.evolve(recipe, optimizers=(spec,))


def first_half(corpus, out, *extra):
    config = make_config(corpus, out, "training.max_steps=4", *extra)
    trainer = make_trainer(config, recipe_at(config.training.learning_rate))
    trainer.fit()
    return trainer


def resumed(corpus, out, *extra, allow=False):
    config = make_config(corpus, out, *extra)
    trainer = make_trainer(config, recipe_at(config.training.learning_rate, seed=99))
    trainer.resume("latest", allow_config_change=allow)
    return trainer


def test_the_changes_of_two_configurations_and_which_bind():
    saved = {"training": {"max_steps": 8, "learning_rate": 0.01}, "data": {"val_fraction": 0.1}}
    current = {"training": {"max_steps": 20, "learning_rate": 0.5}, "data": {}, "model": {"a": 1}}
    changes = config_changes(saved, current)
    assert [c.path for c in changes] == [
        "data", "data.val_fraction", "model.a", "training.learning_rate", "training.max_steps",
    ]  # fmt: skip
    assert [c.path for c in binding(changes)] == [
        "data", "data.val_fraction", "model.a", "training.learning_rate",
    ]  # fmt: skip
    assert describe(changes[3]) == "training.learning_rate: 0.01 -> 0.5"
    assert changes[2].saved is MISSING and "(not set)" in describe(changes[2])
    assert config_changes(saved, saved) == []


def test_a_changed_batch_size_and_validation_split_are_refused_by_name(corpus, tmp_path):
    first_half(corpus, tmp_path)
    with pytest.raises(TrainingError) as caught:
        resumed(corpus, tmp_path, "training.batch_size=2", "data.val_fraction=0.3")
    message = str(caught.value)
    assert "training.batch_size: 4 -> 2" in message and "data.val_fraction: 0.2 -> 0.3" in message
    assert "--allow-config-change" in message
    assert "training.max_steps" not in message


def test_free_changes_resume_exactly(corpus, tmp_path):
    straight = make_trainer(make_config(corpus, tmp_path / "a"), recipe_at(1e-3)).fit()
    first = first_half(corpus, tmp_path / "b")
    second = resumed(
        corpus, tmp_path / "b", "training.log_every=3", "training.checkpoint_every=2",
        "checkpoint.keep_best=2",
    )  # fmt: skip
    rest = second.fit()
    assert first.losses + list(rest.train_losses) == list(straight.train_losses)


def test_an_allowed_learning_rate_change_is_applied(corpus, tmp_path):
    first_half(corpus, tmp_path)
    trainer = resumed(corpus, tmp_path, "training.learning_rate=0.5", allow=True)
    scheduler = trainer.schedulers["model"]
    factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
    assert scheduler.base_lrs == [0.5]
    assert trainer.optimizers["model"].param_groups[0]["lr"] == pytest.approx(0.5 * factor)
    assert scheduler.get_last_lr() == [pytest.approx(0.5 * factor)]
    scheduler.step()  # the schedule goes on from the new peak
    assert trainer.optimizers["model"].param_groups[0]["lr"] == pytest.approx(
        0.5 * scheduler.lr_lambdas[0](scheduler.last_epoch)
    )


def test_an_allowed_change_is_logged(corpus, tmp_path, caplog):
    first_half(corpus, tmp_path)
    with caplog.at_level("WARNING", logger="autovoice.training.trainer"):
        resumed(corpus, tmp_path, "training.batch_size=2", allow=True)
    assert "training.batch_size: 4 -> 2" in caplog.text


def test_resume_keeps_the_learning_rate_it_saved_when_nothing_changed(corpus, tmp_path):
    first = first_half(corpus, tmp_path, "training.learning_rate=0.02")
    trainer = resumed(corpus, tmp_path, "training.learning_rate=0.02")
    saved = first.optimizers["model"].param_groups[0]["lr"]
    assert trainer.optimizers["model"].param_groups[0]["lr"] == saved
    assert isinstance(trainer.schedulers["model"], torch.optim.lr_scheduler.LambdaLR)
    assert isinstance(first.recipe.optimizers[0], OptimizerSpec)


def test_a_setting_added_since_the_checkpoint_is_its_default_not_a_change():
    """A checkpoint saved before an option existed resumes when this run leaves the option at
    its default, and is refused, naming it, when this run sets it otherwise; another plugin's
    options are not filled with this one's defaults."""
    from autovoice.config import Config, unstructure
    from autovoice.training.config_changes import with_defaults
    from autovoice_models.istft.spec import IstftOptions

    def config(**options: object) -> Config:
        vocoder = attrs.evolve(Config().vocoder, name="istft", options=IstftOptions(**options))
        return attrs.evolve(Config(), vocoder=vocoder)

    current = config()
    saved = unstructure(current)
    del saved["vocoder"]["options"]["frame_clock"]  # saved before the option existed
    del saved["training"]["grad_clip"]
    assert config_changes(saved, unstructure(current))  # read as saved: two changes
    assert config_changes(with_defaults(saved, current), unstructure(current)) == []
    clocked = config(frame_clock=True)
    (change,) = config_changes(with_defaults(saved, clocked), unstructure(clocked))
    assert describe(change) == "vocoder.options.frame_clock: False -> True"
    other = dict(saved, vocoder={"name": "hifigan", "options": {"preset": "v2"}})
    assert with_defaults(other, current)["vocoder"] == other["vocoder"]
