"""How the learned-magnitude Griffin-Lim vocoder trains: the factory of the ``magnitude_gl`` spec.

One step per batch: the network maps the batch's mels to a log-magnitude and minimizes the L1
distance to the log of the real clip's STFT magnitude (clamped at ``magnitude_floor``) plus
``convergence_loss_weight`` times the spectral convergence of the linear magnitudes. There is no
waveform in the loop, so a step costs about what an acoustic model's does; Griffin-Lim is only
run for the validation media and at synthesis.

Batches carry ``"audio"`` ``(batch, samples)`` and ``"audio_mels"`` ``(batch, n_mels, samples //
hop)``; for fine-tuning the dataset puts the acoustic model's predicted mels under
``"audio_mels"``, and the target stays the magnitude of the real audio.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from typing_extensions import Unpack

from autovoice.audio.griffin_lim import griffin_lim_magnitude
from autovoice.config.fields import hop_multiple
from autovoice.config.schema import AudioConfig
from autovoice.errors import ConfigError
from autovoice.signature import magnitude_signature
from autovoice.training.recipe import Batch, Recipe, RecipeInputs, TrainStep
from autovoice_models.hifigan.recipe import (
    BATCH_KEYS,
    FrameRateTraining,
    exponential_optimizer,
    first_frames,
    follow,
    trained_copy,
)
from autovoice_models.magnitude_gl.model import MagnitudeExport, MagnitudeNet
from autovoice_models.magnitude_gl.spec import HEAD_FIELDS, MagnitudeGlOptions


def build_net(options: MagnitudeGlOptions, audio: AudioConfig) -> MagnitudeNet:
    """The network ``options`` ask for, on ``audio``'s mel settings."""
    return MagnitudeNet(
        audio,
        channels=options.channels,
        dilations=options.dilations,
        kernel_size=options.kernel_size,
        floor=options.magnitude_floor,
    )


class MagnitudeTraining(FrameRateTraining[MagnitudeNet, MagnitudeGlOptions]):
    """The network of one run, the magnitude of its targets and its losses."""

    def _target(self, audio: torch.Tensor, frames: int) -> torch.Tensor:
        with torch.no_grad():
            target = follow(self.features, audio).magnitude(audio)
        return first_frames(target, frames)

    def losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        mel = batch["audio_mels"]
        target = self._target(batch["audio"], mel.shape[-1])
        predicted = self.net(mel)
        log_target = torch.log(torch.clamp(target, min=self.options.magnitude_floor))
        log_loss = (predicted - log_target).abs().mean()
        error = torch.linalg.vector_norm(torch.exp(predicted) - target)
        convergence = error / torch.linalg.vector_norm(target).clamp(min=1e-8)
        total = log_loss + self.options.convergence_loss_weight * convergence
        return {"loss": total, "log_magnitude_loss": log_loss, "convergence_loss": convergence}

    def train_step(self, batch: Batch, scratch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.losses(batch)

    def validate(self, batch: Batch) -> dict[str, float]:
        """The log-magnitude L1 (``val_loss``) and spectral convergence of a validation batch."""
        with torch.no_grad():
            losses = self.losses(batch)
        return {
            "val_loss": float(losses["log_magnitude_loss"]),
            "convergence_loss": float(losses["convergence_loss"]),
        }

    def media(self, batch: Batch) -> dict[str, Any]:
        """The first clip: Griffin-Lim from the predicted magnitude, the real audio, and the
        predicted and real log-magnitudes."""
        mel = batch["audio_mels"][:1]
        with torch.no_grad():
            predicted = self.net(mel)[0].float().cpu().numpy()
            real = self._target(batch["audio"][:1], mel.shape[-1])[0].float().cpu().numpy()
        generated = griffin_lim_magnitude(
            np.exp(predicted),
            n_fft=self.audio.n_fft,
            hop_length=self.audio.hop_length,
            win_length=self.audio.win_length,
            iterations=self.options.iterations,
            momentum=self.options.momentum,
            init=self.options.init,
        )
        return {
            "audio/generated": generated,
            "audio/real": batch["audio"][0].float().cpu().numpy(),
            "mel/input": batch["audio_mels"][0].float().cpu().numpy(),
            "mel/magnitude_predicted": predicted,
            "mel/magnitude_real": np.log(np.maximum(real, self.options.magnitude_floor)),
        }

    def export_module(self) -> MagnitudeExport:
        """A copy of the network in eval mode, wrapped to output the linear magnitude."""
        return MagnitudeExport(trained_copy(self.net, build_net(self.options, self.audio))).eval()


def _check_audio(options: MagnitudeGlOptions, audio: AudioConfig) -> None:
    issues = hop_multiple(options.segment_size, audio.hop_length, "$.vocoder.options.segment_size")
    if issues:
        raise ConfigError(issues)


def build_recipe(options: MagnitudeGlOptions | None, **inputs: Unpack[RecipeInputs]) -> Recipe:
    """The ``magnitude_gl`` factory: module ``magnitude``, optimizer ``magnitude`` (AdamW with an
    exponential decay), one step; the graph's magnitude goes to the spec's ``griffin_lim`` head
    with the Griffin-Lim options. A vocoder reads only ``audio`` and ``training`` of the inputs."""
    audio, training = inputs["audio"], inputs["training"]
    options = options or MagnitudeGlOptions()
    _check_audio(options, audio)
    run = MagnitudeTraining(build_net(options, audio), audio, options)
    lr = options.learning_rate or training.learning_rate
    optimizer = exponential_optimizer("magnitude", ("magnitude",), lr, options, weight_decay=0.0)
    return Recipe(
        modules={"magnitude": run.net},
        optimizers=(optimizer,),
        steps=(TrainStep(name="magnitude", optimizer="magnitude", loss=run.train_step),),
        validate=run.validate,
        signature=magnitude_signature(audio.n_mels, audio.n_fft),
        export_module=run.export_module,
        media=run.media,
        batch_keys=BATCH_KEYS,
        head_options={name: getattr(options, name) for name in HEAD_FIELDS},
    )


__all__ = ["MagnitudeTraining", "build_net", "build_recipe"]
