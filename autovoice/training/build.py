"""Assemble a training run from a config: runtime, loaders, the plugin's recipe, checkpoints,
logs. ``autovoice train`` and programs call :func:`build_trainer` and then ``fit()``.

The stages, what each trains and where it keeps its files are :mod:`autovoice.training.stages`;
``finetune-vocoder`` starts from the vocoder stage's weights. Each stage keeps its checkpoints
and logs under ``training.output_dir/<stage>`` unless ``checkpoint.uri`` says otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from autovoice.config.load import resolve_plugins
from autovoice.config.schema import Config
from autovoice.errors import AutovoiceError, ConfigError
from autovoice.plugins import Registry
from autovoice.training.checkpoints.manager import CheckpointManager
from autovoice.training.data import create_dataloaders
from autovoice.training.recipe import Recipe
from autovoice.training.rng import seed_everything
from autovoice.training.runtime import Runtime, init_runtime
from autovoice.training.stages import TRAINING_STAGES, build_recipe, stage_dir
from autovoice.training.tracking import Tracker
from autovoice.training.trainer import Trainer

if TYPE_CHECKING:
    from autovoice.training.init import InitReport

logger = logging.getLogger(__name__)


def build_trainer(
    config: Config,
    *,
    stage: str = "acoustic",
    registry: Registry | None = None,
    runtime: Runtime | None = None,
    progress: bool = True,
    acoustic: str | None = None,
    init: str | None = None,
    init_options: InitOptions | None = None,
) -> Trainer:
    """Everything a stage needs, ready to ``fit()`` (after ``resume()`` if wanted).

    ``finetune-vocoder`` reads the acoustic checkpoint ``acoustic`` (default: the run's acoustic
    stage) and starts from the vocoder weights of ``init`` (default: the run's vocoder stage);
    ``init`` also warm-starts other stages from a checkpoint or a voice bundle (weights only;
    :mod:`autovoice.training.init`: speakers and symbols the corpus adds grow the tables,
    ``init_options`` says how strict to be and what to freeze)."""
    registry = registry or Registry.discover()
    config, issues = resolve_plugins(config, registry)  # options tables -> option classes
    if issues:
        raise ConfigError(issues)
    runtime = runtime or init_runtime(config.training)
    if stage == "finetune-vocoder":
        config = _with_predicted_mels(config, acoustic, registry, runtime)
        init = init or str(stage_dir(config, "vocoder") / "checkpoints")
    loaders = create_dataloaders(
        config,
        distributed=runtime.distributed,
        registry=registry,
        rank=runtime.rank,
        world_size=runtime.world_size,
    )
    info = loaders["train"].dataset.info  # type: ignore[attr-defined]
    seed_everything(config.training.seed)  # initial weights, dropout: a function of the seed
    options = init_options or InitOptions()
    if init is not None:
        strict = options.strict or stage == "finetune-vocoder"
        recipe, info = _warm_start(
            init, config, stage, info, registry, attrs.evolve(options, strict=strict)
        )
    else:
        recipe = build_recipe(config, stage, info, registry)
    if options.freeze:
        from autovoice.training.init import freeze

        freeze(recipe, options.freeze)
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


def _with_predicted_mels(
    config: Config, acoustic: str | None, registry: Registry, runtime: Runtime
) -> Config:
    """``config`` whose voice dataset reads the acoustic model's predicted mels (made once)."""
    from autovoice.training.finetune import predict_mels
    from autovoice.training.runtime import barrier

    if config.data.dataset != "voice":
        raise AutovoiceError("finetune-vocoder needs data.dataset = 'voice'")
    mel_dir = stage_dir(config, "finetune-vocoder") / "predicted-mels"
    done = mel_dir / ".complete"
    if runtime.is_main and not done.exists():
        source = acoustic or str(stage_dir(config, "acoustic") / "checkpoints")
        predict_mels(config, source, mel_dir, registry=registry)
        done.write_text(source + "\n")
    barrier(runtime)
    options = attrs.evolve(config.data.options, mel_dir=str(mel_dir))
    return attrs.evolve(config, data=attrs.evolve(config.data, options=options))


@attrs.frozen(kw_only=True)
class InitOptions:
    """How ``init`` starts a run: ``strict`` refuses a partial load; ``new_speaker_from``
    names the known speaker whose row new speakers start from (default: the mean); ``freeze``
    names the parts that do not train; ``report`` is called with what was loaded."""

    strict: bool = False
    new_speaker_from: str | None = None
    freeze: tuple[str, ...] = ()
    report: Callable[[InitReport], None] | None = None


def _warm_start(
    init: str, config: Config, stage: str, info: Any, registry: Registry, options: InitOptions
) -> tuple[Recipe, Any]:
    """The stage's recipe, sized for the tables of ``init`` and the corpus, with the weights of
    ``init`` (a checkpoint or a voice bundle) loaded; and the dataset info with the run's
    tables."""
    from autovoice.training.init import apply_init, open_source, plan_tables

    source = open_source(init, stage, config, registry)
    tables = None
    if TRAINING_STAGES[stage] == "model":
        tables = plan_tables(source, tuple(info.speakers), info.symbols)
        info = attrs.evolve(
            info, speakers=tables.speakers, symbols=tables.symbols, n_symbols=tables.n_symbols
        )
    recipe = build_recipe(config, stage, info, registry)
    recipe, report = apply_init(
        recipe, source, tables, strict=options.strict, new_speaker_from=options.new_speaker_from
    )
    level = logging.WARNING if report.weights.skipped else logging.INFO
    logger.log(level, "%s", report.describe())
    if options.report is not None:
        options.report(report)
    return recipe, info
