"""An adversarial mel loss for VoiceTransformer: a small convolutional discriminator over
log-mel patches (least-squares GAN), trained beside the model.

Mels decoded under an L1 loss come out smoother than the recordings: each frame is the mean of
what it could be. A discriminator that tells recorded from decoded mel patches gives the decoder
a second loss that rewards the detail a mean lacks (as GAN variants of FastSpeech 2 do). It sees
the teacher-forced mel (the aligner's durations, the true pitch and energy), so the two mels of
a batch are frame-aligned; its strides are along frequency only, so its score keeps one column
per frame and padded frames can be masked out.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
import torch.nn.functional as F

from autovoice.training.recipe import Batch, OptimizerSpec, Recipe, TrainStep
from autovoice_models.voice_transformer.layers import lengths_to_mask
from autovoice_models.voice_transformer.model import VoiceTransformer

__all__ = ["MelDiscriminator", "adversarial_recipe"]


class MelDiscriminator(torch.nn.Module):
    """Scores each (frequency patch, frame) of a ``(batch, n_mels, frames)`` log-mel: a stack
    of 2-D convolutions, each halving the frequency axis and keeping the time axis."""

    def __init__(self, channels: int = 32, layers: int = 4) -> None:
        super().__init__()
        convs = [torch.nn.Conv2d(1, channels, (3, 5), stride=(2, 1), padding=(1, 2))]
        for _ in range(layers - 1):
            convs.append(torch.nn.Conv2d(channels, channels, (3, 5), stride=(2, 1), padding=(1, 2)))
        self.convs = torch.nn.ModuleList(convs)
        self.out = torch.nn.Conv2d(channels, 1, (3, 3), padding=(1, 1))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, patches, frames)`` scores: high for recorded, low for decoded."""
        x = mel.unsqueeze(1)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        scores: torch.Tensor = self.out(x)
        return scores.squeeze(1)


def _masked_mean(values: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the valid frames of ``(batch, patches, frames)`` values."""
    mask = frame_mask.unsqueeze(1).to(values.dtype).expand_as(values)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def adversarial_recipe(
    base: Recipe, model: VoiceTransformer, *, weight: float, channels: int, learning_rate: float
) -> Recipe:
    """``base`` (the single-model recipe of ``model``) with a discriminator: the model's step
    adds ``weight`` × the least-squares generator loss of its teacher-forced mel, and a second
    step trains the discriminator on recorded against decoded mels."""
    discriminator = MelDiscriminator(channels)

    def model_loss(batch: Batch, scratch: dict[str, Any]) -> dict[str, torch.Tensor]:
        outputs = model.run_teacher_forced(batch)
        frame_mask = lengths_to_mask(batch["mel_lengths"], outputs.mel.shape[2])
        fake = outputs.mel.float()
        scratch["fake"], scratch["frame_mask"] = fake.detach(), frame_mask
        adversarial = _masked_mean((discriminator(fake) - 1.0) ** 2, frame_mask)
        losses = dict(outputs.losses)
        losses["adversarial_loss"] = adversarial
        losses["loss"] = outputs.losses["loss"] + weight * adversarial
        return losses

    def discriminator_loss(batch: Batch, scratch: dict[str, Any]) -> dict[str, torch.Tensor]:
        frame_mask = scratch["frame_mask"]
        real = _masked_mean((discriminator(batch["mels"].float()) - 1.0) ** 2, frame_mask)
        fake = _masked_mean(discriminator(scratch["fake"]) ** 2, frame_mask)
        return {"loss": real + fake, "real": real, "fake": fake}

    spec = OptimizerSpec(
        name="discriminator", modules=("discriminator",), lr=learning_rate, schedule="constant",
        betas=(0.5, 0.9),
    )  # fmt: skip
    first = base.steps[0]
    return attrs.evolve(
        base,
        modules={**base.modules, "discriminator": discriminator},
        optimizers=(*base.optimizers, spec),
        steps=(
            attrs.evolve(first, loss=model_loss),
            TrainStep(name="discriminator", optimizer="discriminator", loss=discriminator_loss),
        ),
    )
