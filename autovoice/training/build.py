"""Assemble a training run from a config: runtime, loaders, the plugin's recipe, checkpoints,
logs. ``autovoice train`` and programs call :func:`build_trainer` and then ``fit()``.

Stages: ``acoustic`` trains ``[model]`` (text to mel); ``vocoder`` trains ``[vocoder]`` on the
corpus' own mels. Each stage keeps its checkpoints and logs under ``training.output_dir/<stage>``
unless ``checkpoint.uri`` says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autovoice.config.load import resolve_plugins
from autovoice.config.schema import Config
from autovoice.errors import AutovoiceError, ConfigError
from autovoice.plugins import Registry
from autovoice.training.checkpoint import CheckpointManager
from autovoice.training.data import create_dataloaders
from autovoice.training.recipe import Recipe
from autovoice.training.runtime import Runtime, init_runtime
from autovoice.training.tracking import Tracker
from autovoice.training.trainer import Trainer

STAGES = {"acoustic": "model", "vocoder": "vocoder"}


def stage_dir(config: Config, stage: str) -> Path:
    return Path(config.training.output_dir) / stage


def build_recipe(config: Config, stage: str, info: Any, registry: Registry) -> Recipe:
    """The recipe of the stage's plugin, sized for the dataset (symbols, speakers)."""
    if stage not in STAGES:
        raise AutovoiceError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    section = config.model if STAGES[stage] == "model" else config.vocoder
    if not section.name:
        raise AutovoiceError(f"stage {stage!r} needs $.{STAGES[stage]}.name: which plugin to train")
    spec = registry.get(STAGES[stage], section.name)
    recipe: Recipe = spec.create(
        section.options,
        audio=config.audio,
        n_symbols=info.n_symbols,
        n_speakers=info.n_speakers,
        training=config.training,
    )
    return recipe


def build_trainer(
    config: Config,
    *,
    stage: str = "acoustic",
    registry: Registry | None = None,
    runtime: Runtime | None = None,
    progress: bool = True,
) -> Trainer:
    """Everything a stage needs, ready to ``fit()`` (after ``resume()`` if wanted)."""
    registry = registry or Registry.discover()
    config, issues = resolve_plugins(config, registry)  # options tables -> option classes
    if issues:
        raise ConfigError(issues)
    runtime = runtime or init_runtime(config.training)
    loaders = create_dataloaders(
        config,
        distributed=runtime.distributed,
        registry=registry,
        rank=runtime.rank,
        world_size=runtime.world_size,
    )
    info = loaders["train"].dataset.info  # type: ignore[attr-defined]
    recipe = build_recipe(config, stage, info, registry)
    where = stage_dir(config, stage)
    checkpoints = CheckpointManager.from_config(
        config.checkpoint, where / "checkpoints", registry=registry
    )
    tracker = Tracker(
        where / "logs" if runtime.is_main else None,
        log_every=config.training.log_every,
        progress=progress and runtime.is_main,
        sample_rate=config.audio.sample_rate,
        description=stage,
    )
    symbols = dict(info.symbols)
    return Trainer(
        recipe=recipe,
        loaders=loaders,
        checkpoints=checkpoints,
        config=config,
        runtime=runtime,
        symbols=symbols,
        speakers=tuple(info.speakers),
        stage=stage,
        tracker=tracker,
    )
