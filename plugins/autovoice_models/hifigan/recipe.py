"""How HiFi-GAN trains: the factory of the ``hifigan`` vocoder spec.

Every batch runs two steps, as the paper does. The discriminator step generates audio from the
batch's mels, keeps it in ``scratch["generated"]`` and trains the discriminators to tell it from
the real clip. The generator step then minimizes ``45 · mel L1 + adversarial + 2 · feature
matching`` against the updated discriminators. Before ``adversarial_start_step`` (or with
``discriminators = "none"``) the discriminator step does not run, nothing is left in ``scratch``,
and the generator step generates for itself and uses the spectral losses alone.

Batches carry ``"audio"`` ``(batch, samples)`` and ``"audio_mels"`` ``(batch, n_mels, samples //
hop)``; for fine-tuning the dataset puts the acoustic model's predicted mels under
``"audio_mels"``. The mel loss always compares with the mel of the real audio.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import attrs
import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import Unpack

from autovoice.config.fields import hop_multiple
from autovoice.config.schema import AudioConfig, TrainingConfig
from autovoice.errors import ConfigError, ConfigIssue
from autovoice.signature import vocoder_signature
from autovoice.training.features import LogMel
from autovoice.training.recipe import Batch, LossFn, OptimizerSpec, Recipe, RecipeInputs, TrainStep
from autovoice_models.hifigan.discriminators import (
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
)
from autovoice_models.hifigan.generator import Generator
from autovoice_models.hifigan.losses import (
    MultiResolutionSTFTLoss,
    adversarial_loss,
    discriminator_loss,
    feature_matching_loss,
)
from autovoice_models.hifigan.presets import resolve_generator
from autovoice_models.hifigan.spec import HifiGanOptions

BETAS = (0.8, 0.99)
WEIGHT_DECAY = 0.01  # AdamW's default, which the reference training keeps
BATCH_KEYS = ("audio", "audio_mels")
"""What every vocoder step reads of a batch: the audio segment and its mel frames."""


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Build the graph without gradients for ``module``'s parameters (they are not trained by
    this step), restoring their flags afterwards."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _matched(fake: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = min(fake.shape[-1], real.shape[-1])
    return fake[..., :n], real[..., :n]


_Module = TypeVar("_Module", bound=nn.Module)


def follow(module: _Module, like: torch.Tensor) -> _Module:
    """``module`` on ``like``'s device (feature extractors are not among the trained modules)."""
    buffer = next(module.buffers(), None)
    if buffer is not None and buffer.device != like.device:
        module.to(like.device)
    return module


def trained_copy(net: nn.Module, fresh: _Module) -> _Module:
    """``fresh`` (a new network of ``net``'s options) with ``net``'s weights, on its device and
    in eval mode: what a vocoder exports while ``net`` goes on training."""
    fresh.load_state_dict(net.state_dict())
    return fresh.to(next(net.parameters()).device).eval()


_Net = TypeVar("_Net", bound=nn.Module)
_Options = TypeVar("_Options")


class FrameRateTraining(Generic[_Net, _Options]):
    """What every frame-rate vocoder run keeps (``istft``, ``magnitude_gl``): its network, audio
    settings and options, and the log-mel features its targets are computed with."""

    def __init__(self, net: _Net, audio: AudioConfig, options: _Options) -> None:
        self.net = net
        self.audio = audio
        self.options = options
        self.features = LogMel(audio)


def first_frames(features: torch.Tensor, frames: int) -> torch.Tensor:
    """The first ``frames`` frames of a clip's STFT features ``(..., frames)``; an error when the
    clip's audio is shorter than its mel."""
    if features.shape[-1] < frames:
        raise ValueError(
            f"{frames} mel frames but the clip's audio has only {features.shape[-1]}; "
            "the dataset must cut mel and audio together"
        )
    return features[..., :frames]


class HifiGanTraining:
    """The modules of one HiFi-GAN run and the losses of its steps."""

    def __init__(
        self,
        *,
        generator: Generator,
        discriminators: Mapping[str, nn.Module],
        loss_mel: LogMel,
        input_mel: LogMel,
        options: HifiGanOptions,
    ) -> None:
        self.generator = generator
        self.discriminators = dict(discriminators)
        self.loss_mel = loss_mel
        self.input_mel = input_mel
        self.options = options
        self.stft_loss = MultiResolutionSTFTLoss() if options.stft_loss_weight > 0 else None

    def mel_loss(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """L1 distance of the log-mels of generated and real audio."""
        fake, real = _matched(fake, real)
        mel = follow(self.loss_mel, real)
        with torch.no_grad():
            target = mel(real)
        return F.l1_loss(mel(fake), target)

    def discriminator_step(self, batch: Batch, scratch: dict[str, Any]) -> dict[str, torch.Tensor]:
        fake = self.generator(batch["audio_mels"])
        scratch["generated"] = fake
        fake, real = _matched(fake.detach(), batch["audio"])
        losses = {}
        for name, disc in self.discriminators.items():
            real_scores, _ = disc(real)
            fake_scores, _ = disc(fake)
            losses[f"{name}_loss"] = discriminator_loss(real_scores, fake_scores)
        return {"loss": sum(losses.values(), fake.new_zeros(())), **losses}

    def generator_step(self, batch: Batch, scratch: dict[str, Any]) -> dict[str, torch.Tensor]:
        fake = scratch.get("generated")
        if fake is None:
            fake = self.generator(batch["audio_mels"])
        fake, real = _matched(fake, batch["audio"])
        mel_loss = self.mel_loss(fake, real)
        losses = {"mel_loss": mel_loss}
        total = self.options.mel_loss_weight * mel_loss
        if self.stft_loss is not None:
            losses["stft_loss"] = follow(self.stft_loss, real)(fake, real)
            total = total + self.options.stft_loss_weight * losses["stft_loss"]
        if "generated" in scratch:
            adv, fm = self._adversarial(fake, real)
            losses.update(adv_loss=adv, fm_loss=fm)
            total = total + adv + self.options.feature_loss_weight * fm
        return {"loss": total, **losses}

    def _adversarial(
        self, fake: torch.Tensor, real: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        adv, fm = fake.new_zeros(()), fake.new_zeros(())
        for disc in self.discriminators.values():
            with torch.no_grad():
                _, real_features = disc(real)
            with frozen(disc):
                fake_scores, fake_features = disc(fake)
            adv = adv + adversarial_loss(fake_scores)
            fm = fm + feature_matching_loss(real_features, fake_features)
        return adv, fm

    def validate(self, batch: Batch) -> dict[str, float]:
        """Mel L1 of the audio generated from the batch's mels against the real audio's."""
        with torch.no_grad():
            fake = self.generator(batch["audio_mels"])
            loss = float(self.mel_loss(fake, batch["audio"]))
        return {"val_loss": loss, "mel_loss": loss}

    def media(self, batch: Batch) -> dict[str, Any]:
        """The first clip of a batch, generated and real, with the mels it went from and to."""
        with torch.no_grad():
            fake = self.generator(batch["audio_mels"][:1])
            generated_mel = follow(self.input_mel, fake)(fake)
        return {
            "audio/generated": fake[0].float().cpu().numpy(),
            "audio/real": batch["audio"][0].float().cpu().numpy(),
            "mel/input": batch["audio_mels"][0].float().cpu().numpy(),
            "mel/generated": generated_mel[0].float().cpu().numpy(),
        }

    def export_module(self) -> nn.Module:
        """A copy of the generator in eval mode with weight norm folded in (the generator being
        trained keeps its weight norm)."""
        return self.generator.folded_copy()


def _check_audio(options: HifiGanOptions, audio: AudioConfig) -> None:
    issues = hop_multiple(options.segment_size, audio.hop_length, "$.vocoder.options.segment_size")
    if options.loss_f_max is not None and options.loss_f_max > audio.sample_rate / 2:
        issues.append(
            ConfigIssue(
                "$.vocoder.options.loss_f_max",
                f"{options.loss_f_max:g} Hz is above half of $.audio.sample_rate "
                f"({audio.sample_rate / 2:g} Hz)",
            )
        )
    if issues:
        raise ConfigError(issues)


def build_generator(options: HifiGanOptions, audio: AudioConfig) -> Generator:
    """The generator ``options`` ask for, fitted to ``audio`` (weight norm on)."""
    preset = resolve_generator(options, hop_length=audio.hop_length)
    return Generator(n_mels=audio.n_mels, **attrs.asdict(preset, recurse=False))


def build_training(options: HifiGanOptions, audio: AudioConfig) -> HifiGanTraining:
    """Modules and losses of one run, checked against ``audio``."""
    _check_audio(options, audio)
    discs: dict[str, nn.Module] = {}
    if options.discriminators == "mpd+msd":
        discs = {"mpd": MultiPeriodDiscriminator(), "msd": MultiScaleDiscriminator()}
    loss_f_max = options.loss_f_max or audio.sample_rate / 2
    return HifiGanTraining(
        generator=build_generator(options, audio),
        discriminators=discs,
        loss_mel=LogMel(attrs.evolve(audio, f_max=loss_f_max)),
        input_mel=LogMel(audio),
        options=options,
    )


def exponential_optimizer(
    name: str,
    modules: tuple[str, ...],
    lr: float,
    options: Any,
    *,
    weight_decay: float = WEIGHT_DECAY,
) -> OptimizerSpec:
    """AdamW with the reference training's betas, decayed by ``options.lr_decay`` every
    ``options.lr_decay_steps`` steps."""
    return OptimizerSpec(
        name=name,
        modules=modules,
        lr=lr,
        betas=BETAS,
        eps=1e-8,
        weight_decay=weight_decay,
        schedule="exponential",
        gamma=options.lr_decay ** (1.0 / options.lr_decay_steps),
    )


def gan_recipe(
    *,
    generator: nn.Module,
    discriminators: Mapping[str, nn.Module],
    generator_step: LossFn,
    discriminator_step: LossFn,
    options: Any,
    training: TrainingConfig,
    **rest: Any,
) -> Recipe:
    """A GAN vocoder's recipe: module ``generator`` and optimizer ``gen``, with, when there are
    ``discriminators``, optimizer ``disc`` over them and a step ``discriminator`` (from
    ``options.adversarial_start_step``) before the step ``generator``. ``options`` carries the
    learning rate (None: ``training.learning_rate``) and its decay; ``rest`` are the other
    fields of the :class:`Recipe`."""
    lr = options.learning_rate or training.learning_rate
    modules: dict[str, nn.Module] = {"generator": generator, **discriminators}
    optimizers = [exponential_optimizer("gen", ("generator",), lr, options)]
    steps = [TrainStep(name="generator", optimizer="gen", loss=generator_step)]
    if discriminators:
        optimizers.insert(0, exponential_optimizer("disc", tuple(discriminators), lr, options))
        disc_step = TrainStep(
            name="discriminator",
            optimizer="disc",
            loss=discriminator_step,
            start_step=options.adversarial_start_step,
        )
        steps.insert(0, disc_step)
    return Recipe(modules=modules, optimizers=tuple(optimizers), steps=tuple(steps), **rest)


def build_recipe(options: HifiGanOptions | None, **inputs: Unpack[RecipeInputs]) -> Recipe:
    """The ``hifigan`` factory: modules ``generator`` (+ ``mpd``, ``msd``), optimizers ``gen``
    (+ ``disc``), steps ``discriminator`` (from ``adversarial_start_step``) then ``generator``.
    A vocoder reads only ``audio`` and ``training`` of the inputs."""
    audio, training = inputs["audio"], inputs["training"]
    options = options or HifiGanOptions()
    run = build_training(options, audio)
    return gan_recipe(
        generator=run.generator,
        discriminators=run.discriminators,
        generator_step=run.generator_step,
        discriminator_step=run.discriminator_step,
        options=options,
        training=training,
        validate=run.validate,
        signature=vocoder_signature(audio.n_mels),
        export_module=run.export_module,
        media=run.media,
        batch_keys=BATCH_KEYS,
    )


__all__ = [
    "HifiGanTraining",
    "build_generator",
    "build_recipe",
    "build_training",
    "exponential_optimizer",
    "first_frames",
    "follow",
    "frozen",
    "gan_recipe",
    "trained_copy",
]
