"""Training stages: their names, what each trains, where it keeps its files, its recipe, and
rebuilding one from its checkpoint.

``acoustic`` trains ``[model]`` (text to mel); ``converter`` trains ``[model]`` when it names a
voice conversion model (mel to mel); ``vocoder`` trains ``[vocoder]`` on the corpus' own mels;
``finetune-vocoder`` trains it on the acoustic model's predicted mels
(:mod:`autovoice.training.finetune`). Each stage keeps its checkpoints and logs under
``training.output_dir/<stage>``. Training (:mod:`autovoice.training.build`), fine-tuning and
export (:mod:`autovoice.export.bundle_writer`) all read stages here; the torch-free table of
a voice bundle's stages and their plugin kinds is :data:`autovoice.bundle.STAGE_KINDS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from autovoice.config import Config, parse_config
from autovoice.errors import AutovoiceError
from autovoice.heads import BoundHead
from autovoice.plugins import Registry
from autovoice.text import SymbolTable
from autovoice.training.checkpoints.manager import CheckpointManager
from autovoice.training.checkpoints.records import META_FILE, Checkpoint
from autovoice.training.checkpoints.references import CheckpointRef, resolve_checkpoint
from autovoice.training.checkpoints.state import load_modules
from autovoice.training.recipe import Recipe, RecipeInputs

__all__ = [
    "FIRST_STAGES",
    "STAGE_INPUTS",
    "TRAINING_STAGES",
    "VOCODER_STAGES",
    "StageError",
    "StageSource",
    "build_recipe",
    "rebuild_stage",
    "stage_dir",
]

TRAINING_STAGES: Mapping[str, str] = {
    "acoustic": "model",
    "converter": "model",
    "vocoder": "vocoder",
    "finetune-vocoder": "vocoder",
}
"""Each stage a run trains, and the config section (and plugin kind) of what it trains."""
STAGE_INPUTS = {"acoustic": "tokens", "converter": "mel"}
"""The graph input that tells a stage's models apart: text to mel, or mel to mel."""
FIRST_STAGES = ("acoustic", "converter")
"""What the first checkpoint of a voice may be: text to mel (speech) or mel to mel (conversion)."""
VOCODER_STAGES = ("vocoder", "finetune-vocoder")
"""What the vocoder checkpoint may be: trained on real mels, or fine-tuned on predicted ones."""


class StageError(AutovoiceError):
    """A checkpoint that cannot be rebuilt as the stage asked for: names the checkpoint."""


def stage_dir(config: Config, stage: str) -> Path:
    """Where ``stage`` keeps its checkpoints and logs: ``training.output_dir/<stage>``."""
    return Path(config.training.output_dir) / stage


def build_recipe(config: Config, stage: str, info: Any, registry: Registry) -> Recipe:
    """The recipe of the stage's plugin, sized for the dataset (symbols, speakers)."""
    if stage not in TRAINING_STAGES:
        raise AutovoiceError(f"unknown stage {stage!r}; stages: {', '.join(TRAINING_STAGES)}")
    kind = TRAINING_STAGES[stage]
    section = config.model if kind == "model" else config.vocoder
    if not section.name:
        raise AutovoiceError(f"stage {stage!r} needs $.{kind}.name: which plugin to train")
    spec = registry.get(kind, section.name)
    inputs = RecipeInputs(
        audio=config.audio,
        n_symbols=info.n_symbols,
        n_speakers=info.n_speakers,
        training=config.training,
    )
    recipe: Recipe = spec.create(section.options, **inputs)
    _check_role(stage, section.name, recipe)
    return recipe


def _check_role(stage: str, name: str, recipe: Recipe) -> None:
    """Refuse a model trained as the wrong stage (a converter as the acoustic model)."""
    wanted = STAGE_INPUTS.get(stage)
    inputs = recipe.signature.input_names
    if wanted is None or wanted in inputs:
        return
    other = next((s for s, first in STAGE_INPUTS.items() if first in inputs), None)
    hint = f"; train it as stage {other!r}" if other else ""
    raise AutovoiceError(
        f"$.model.name: {name!r} takes {', '.join(inputs)}, not what stage {stage!r} trains{hint}"
    )


@attrs.frozen(kw_only=True)
class _DataInfo:
    n_symbols: int
    n_speakers: int


@attrs.frozen(kw_only=True)
class StageSource:
    """One stage rebuilt from its checkpoint, weights loaded."""

    stage: str
    """Its stage in a voice bundle: ``acoustic``, ``converter`` or ``vocoder``."""
    ref: CheckpointRef
    checkpoint: Checkpoint
    config: Config
    recipe: Recipe
    symbols: Mapping[str, Any]
    speakers: tuple[str, ...]
    head: BoundHead | None = None
    """The vocoder's head and its options, bound by the exporter; None for the other stages."""

    @property
    def section(self) -> Any:
        return self.config.model if TRAINING_STAGES[self.stage] == "model" else self.config.vocoder


def _kept_stage(meta: Mapping[str, Any], accepted: tuple[str, ...]) -> str | None:
    """The stage of a checkpoint kept as weights only (no ``state.pt``, which records it), as
    far as its modules tell: a ``generator`` is a vocoder, which is all a vocoder stage needs
    to be rebuilt; a ``model`` is one of the model stages, and says which only when just one
    is accepted. None when they do not tell."""
    contents = meta.get("contents")
    modules = contents.get("modules", ()) if isinstance(contents, Mapping) else ()
    if "generator" in modules:
        return next((s for s in accepted if s in VOCODER_STAGES), "vocoder")
    models = [s for s in accepted if TRAINING_STAGES.get(s) == "model"]
    return models[0] if "model" in modules and len(models) == 1 else None


def rebuild_stage(
    text: str | os.PathLike[str],
    stage: str | tuple[str, ...],
    registry: Registry,
    *,
    model_options: Mapping[str, Any] | None = None,
) -> StageSource:
    """The stage of the checkpoint ``text`` names (any form :func:`resolve_checkpoint` reads):
    ``stage`` (acoustic, converter or vocoder) or, given several, whichever of them the
    checkpoint trained; a :class:`StageError` when it trained another. ``model_options`` change
    options of its model that its spec lists as ``inference_options`` (any other is a
    :class:`StageError`), before the model is built."""
    accepted = (stage,) if isinstance(stage, str) else tuple(stage)
    ref = resolve_checkpoint(text, registry)
    manager = CheckpointManager(ref.store, registry=registry, recover=False)
    checkpoint, weights = manager.read_weights(ref.name)
    saved = checkpoint.extra_state.get("stage") or _kept_stage(checkpoint.meta, accepted)
    if saved not in TRAINING_STAGES:
        kept = "" if checkpoint.extra_state else " (kept as weights only, without its state.pt)"
        raise StageError(
            f"{ref.location}: the checkpoint{kept} does not say which stage it trained"
        )
    if saved not in accepted:
        others = f" (or {', '.join(accepted[1:])})" if len(accepted) > 1 else ""
        raise StageError(
            f"{ref.location}: a {saved} checkpoint, given as the {accepted[0]} one{others}"
        )
    if not isinstance(checkpoint.config, Mapping) or not isinstance(checkpoint.symbols, Mapping):
        raise StageError(f"{ref.location}: {META_FILE} lacks the config or the symbol table")
    config = parse_config(
        checkpoint.config, registry=registry, source=f"{ref.location}/{META_FILE}"
    )
    if model_options:
        config = with_inference_options(config, saved, model_options, registry, ref.location)
    speakers = tuple(str(s) for s in checkpoint.extra_state.get("speakers", ()))
    table = SymbolTable.from_dict(checkpoint.symbols)
    info = _DataInfo(n_symbols=len(table), n_speakers=len(speakers))
    recipe = build_recipe(config, saved, info, registry)
    load_modules(recipe.modules, weights, ref.location)
    return StageSource(
        stage="vocoder" if saved in VOCODER_STAGES else saved,
        ref=ref,
        checkpoint=checkpoint,
        config=config,
        recipe=recipe,
        symbols=dict(checkpoint.symbols),
        speakers=speakers,
    )


def with_inference_options(
    config: Config, stage: str, changes: Mapping[str, Any], registry: Registry, where: str
) -> Config:
    """``config`` with ``changes`` to its ``[model.options]``, each one its model's spec lists
    as changing no weight (``inference_options``), checked as the config's options are; a
    :class:`StageError` naming the option otherwise."""
    from autovoice.config import unstructure
    from autovoice.config.structure import structure

    if stage not in ("acoustic", "converter"):
        raise StageError(f"{where}: model.options apply to an acoustic model; this checkpoint "
                         f"trained the {stage}")  # fmt: skip
    spec = registry.get("model", config.model.name)
    allowed = tuple(getattr(spec, "inference_options", ()))
    for name in changes:
        if name not in allowed:
            choices = ", ".join(allowed) if allowed else "none"
            raise StageError(
                f"model.options.{name}: not an option of {config.model.name} that leaves its "
                f"weights as trained, so a trained checkpoint cannot take it (those that do: "
                f"{choices}); train with it instead"
            )
    if spec.options_type is None:
        return config
    table = {**dict(unstructure(config.model.options) or {}), **changes}
    try:
        options: Any = structure(table, spec.options_type, path="$.model.options")
    except AutovoiceError as exc:
        raise StageError(str(exc)) from None
    return attrs.evolve(config, model=attrs.evolve(config.model, options=options))
