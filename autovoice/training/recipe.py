"""The contract between the generic trainer and a model or vocoder plugin.

A plugin's factory, called as ``factory(options, **inputs)`` with the :class:`RecipeInputs`,
returns a :class:`Recipe`: the named modules to train, their optimizers, and the steps to run on
every batch, in order. An acoustic model has one step on one optimizer; a GAN vocoder has a
discriminator step then a generator step, each on its own optimizer, sharing the generated audio
through the per-batch ``scratch`` dict. The trainer does everything else: devices, precision,
clipping, accumulation, schedules, non-finite guards, validation, checkpoints, logs.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import attrs

from autovoice.config.schema import AudioConfig, TrainingConfig
from autovoice.signature import GraphSignature

if TYPE_CHECKING:
    import torch

Batch = Mapping[str, "torch.Tensor"]
LossFn = Callable[[Batch, dict[str, Any]], dict[str, "torch.Tensor"]]
"""``(batch, scratch) -> {"loss": total, "mel_loss": ..., ...}``: the step minimizes ``"loss"``;
other entries are logged. ``scratch`` is shared by the steps of one batch and then dropped."""
Model = TypeVar("Model", bound="torch.nn.Module")


class RecipeInputs(TypedDict):
    audio: AudioConfig
    n_symbols: int
    n_speakers: int
    training: TrainingConfig


"""What the trainer, export and fine-tuning call every model and vocoder factory with, besides
its options: ``factory(options, **inputs)``. ``n_symbols`` is the size of the symbol table and
``n_speakers`` the number of speakers (at least 1). A factory may name them (``*, audio,
n_symbols, n_speakers, training``) or take ``**inputs: Unpack[RecipeInputs]`` and read the ones
it needs (a vocoder has no use for the symbols and speakers)."""


@attrs.frozen(kw_only=True)
class OptimizerSpec:
    """An AdamW optimizer over some of the recipe's modules, with its learning-rate schedule."""

    name: str
    modules: tuple[str, ...]
    lr: float
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-9
    weight_decay: float = 0.0
    schedule: str = attrs.field(
        default="noam", validator=attrs.validators.in_(("noam", "exponential", "constant"))
    )
    """noam: linear warm-up then inverse square root; exponential: ``lr * gamma**step``."""
    warmup_steps: int = 0
    gamma: float = 0.999


@attrs.frozen(kw_only=True)
class TrainStep:
    """One optimization step per batch: minimize ``loss(batch, scratch)["loss"]`` with the
    optimizer named ``optimizer``, from ``start_step`` on."""

    name: str
    optimizer: str
    loss: LossFn
    start_step: int = 0


@attrs.frozen(kw_only=True)
class Recipe:
    """What a plugin gives the trainer."""

    modules: Mapping[str, torch.nn.Module]
    optimizers: tuple[OptimizerSpec, ...]
    steps: tuple[TrainStep, ...]
    validate: Callable[[Batch], dict[str, float]]
    """Metrics of one validation batch (averaged by the trainer); must include ``val_loss``."""
    signature: GraphSignature
    export_module: Callable[[], torch.nn.Module]
    """A module whose ``forward`` takes and returns ``signature``'s tensors, weight norm removed."""
    media: Callable[[Batch], dict[str, Any]] | None = None
    """Optional: mel images (``"mel/<name>"``: 2-D numpy) and audio (``"audio/<name>"``: 1-D
    numpy) of one validation batch, for TensorBoard."""
    batch_keys: tuple[str, ...] = ()
    """The batch entries the steps read; the trainer moves only these to the device."""
    head: str | None = None
    """The head that makes a waveform of ``signature``'s outputs (:data:`autovoice.heads.HEADS`);
    None: the vocoder spec's ``head``. Export writes it into the bundle; a model ignores it."""
    head_options: Mapping[str, Any] = attrs.field(factory=dict)
    """The head's options, as the bundle keeps them (Griffin-Lim: ``iterations``, ``momentum``,
    ``seed``); fields left out take the head's defaults."""


@contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no gradients inside; the previous mode restored afterwards."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def single_model_recipe(
    model: Model,
    *,
    training: TrainingConfig,
    validate: Callable[[Model, Batch], dict[str, float]],
    signature: GraphSignature,
    export: Callable[[Model], torch.nn.Module],
    media: Callable[[Model, Batch], dict[str, Any]] | None = None,
    batch_keys: tuple[str, ...] = (),
) -> Recipe:
    """One module ``"model"`` minimizing its ``forward_for_training(batch)`` losses with a
    noam-scheduled AdamW (``training``'s learning rate and warm-up): the recipe of the acoustic
    and conversion models. ``validate`` and ``media`` take the model and a batch; ``export``
    wraps a copy of the model in the module that is exported (put in eval mode)."""

    def loss(batch: Batch, scratch: dict[str, Any]) -> dict[str, torch.Tensor]:
        result: dict[str, torch.Tensor] = model.forward_for_training(batch)  # type: ignore[operator]
        return result

    def export_module() -> torch.nn.Module:
        return export(copy.deepcopy(model)).eval()

    return Recipe(
        modules={"model": model},
        optimizers=(
            OptimizerSpec(
                name="model",
                modules=("model",),
                lr=training.learning_rate,
                schedule="noam",
                warmup_steps=training.warmup_steps,
            ),
        ),
        steps=(TrainStep(name="model", optimizer="model", loss=loss),),
        validate=functools.partial(validate, model),
        signature=signature,
        export_module=export_module,
        media=None if media is None else functools.partial(media, model),
        batch_keys=batch_keys,
    )
