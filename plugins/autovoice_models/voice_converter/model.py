"""VoiceConverter: a source log-mel and a target speaker id to that speaker's log-mel.

The content encoder standardizes the source mel per band with statistics pooled over every
training speaker (so it needs no source speaker id), reads it with a stack of transformer blocks
and squeezes it through a narrow linear bottleneck: what passes is mostly what is said, little
of who says it. The decoder widens the codes, adds the target speaker's embedding and predicts
a standardized mel with a second stack; the target speaker's per-band mean and standard
deviation (gathered from the training data, :class:`SpeakerStats`) bring it to that speaker's
level. The output has the source's frames, one for one.

The blocks carry no absolute positions (attention for context, convolutions for order), so a
model trained on short random segments (``segment_frames``) converts utterances of any length.

Training reads either paired batches (``source_mels``, ``target_mels`` aligned to the source by
DTW, ``source_speakers``, ``target_speakers``): conversion to the target plus reconstruction of
the source in its own voice; or voice batches (``mels``, ``speakers``): reconstruction alone,
which the bottleneck turns into conversion when the speaker is swapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from autovoice.data.collate import PAIRED_KEYS, VOICE_KEYS
from autovoice.errors import AutovoiceError
from autovoice_models.voice_converter.stats import SpeakerStats
from autovoice_models.voice_transformer.layers import (
    BlockStack,
    StackSizes,
    lengths_to_mask,
    sized_stack,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "BATCH_KEYS",
    "VoiceConverter",
    "VoiceConverterExport",
    "masked_l1",
    "random_segments",
]

BATCH_KEYS = PAIRED_KEYS + VOICE_KEYS


def masked_l1(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of ``(batch, n_mels, frames)`` mels over the valid frames."""
    weight = mask[:, None, :].to(prediction.dtype).expand_as(prediction)
    return ((prediction - target).abs() * weight).sum() / weight.sum().clamp(min=1)


def random_segments(
    lengths: torch.Tensor, frames: int, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame indices ``(batch, min(size, frames))`` of one random segment per item, inside its
    valid frames where it is long enough (torch's generator draws the offsets), and the
    segments' valid lengths."""
    size = min(size, frames)
    room = (lengths - size).clamp(min=0).to(torch.float32)
    offsets = torch.floor(torch.rand(lengths.shape, device=lengths.device) * (room + 1))
    steps = torch.arange(size, device=lengths.device)
    index = (offsets.to(torch.int64)[:, None] + steps[None, :]).clamp(max=frames - 1)
    return index, lengths.clamp(max=size)


def take_frames(mels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The frames ``index`` ``(batch, size)`` of ``mels`` ``(batch, n_mels, frames)``."""
    return torch.gather(mels, 2, index[:, None, :].expand(-1, mels.shape[1], -1))


class VoiceConverter(nn.Module):
    """The voice conversion model; see the module docstring. All arguments are flat keywords."""

    def __init__(
        self,
        *,
        n_mels: int,
        n_speakers: int,
        bottleneck_dim: int,
        dropout: float,
        segment_frames: int = 0,
        stats_batches: int = 100,
        conversion_weight: float = 1.0,
        reconstruction_weight: float = 0.5,
        mel_pad_value: float = 0.0,
        **sizes: Unpack[StackSizes],
    ) -> None:
        super().__init__()
        d_model = sizes["d_model"]
        self.n_mels = n_mels
        self.segment_frames = segment_frames
        self.mel_pad_value = mel_pad_value
        self.weights = {"conversion": conversion_weight, "reconstruction": reconstruction_weight}
        self.input = nn.Linear(n_mels, d_model)
        self.encoder = sized_stack(BlockStack, sizes, "encoder", dropout)
        self.bottleneck = nn.Linear(d_model, bottleneck_dim)
        self.expand = nn.Linear(bottleneck_dim, d_model)
        self.speaker_embedding = nn.Embedding(n_speakers, d_model)
        self.decoder = sized_stack(BlockStack, sizes, "decoder", dropout)
        self.mel_projection = nn.Linear(d_model, n_mels)
        self.stats = SpeakerStats(
            n_speakers=n_speakers, n_mels=n_mels, batches=stats_batches, init_mean=mel_pad_value
        )

    # -- shared by training and inference ---------------------------------------------------

    def encode(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Content codes ``(batch, frames, bottleneck_dim)`` of a ``(batch, n_mels, frames)``
        log-mel; zero at padding."""
        keep = mask[..., None].to(torch.float32)
        standard = self.stats.standardize(mel.float()).transpose(1, 2) * keep
        codes: torch.Tensor = self.bottleneck(self.encoder(self.input(standard), mask))
        return codes * keep

    def decode(
        self, codes: torch.Tensor, speakers: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """The mel ``(batch, n_mels, frames)`` of ``codes`` in each item's speaker's voice;
        ``mel_pad_value`` at padding."""
        hidden = self.expand(codes) + self.speaker_embedding(speakers)[:, None, :]
        standard = self.mel_projection(self.decoder(hidden, mask)).transpose(1, 2)
        mel = self.stats.restore(standard, speakers)
        return torch.where(mask[:, None, :], mel, torch.full_like(mel, self.mel_pad_value))

    def convert(
        self, mel: torch.Tensor, mel_lengths: torch.Tensor, speakers: torch.Tensor
    ) -> torch.Tensor:
        """Each source mel of a padded batch in the voice of ``speakers`` (one id per item)."""
        mask = lengths_to_mask(mel_lengths, mel.shape[2])
        return self.decode(self.encode(mel, mask), speakers, mask)

    # -- training --------------------------------------------------------------------------

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Same as :meth:`forward_for_training`, so wrappers such as DDP see the training pass."""
        return self.forward_for_training(batch)

    def forward_for_training(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The losses of a paired or a voice batch: ``loss`` (minimized) and its parts. In
        training mode with ``segment_frames`` set, each item is cut to a random segment."""
        if "source_mels" in batch:
            return self._paired_losses(batch)
        if "mels" in batch:
            return self._voice_losses(batch)
        raise AutovoiceError(
            "voice_converter trains on the paired dataset (source_mels, target_mels) or the "
            f"voice dataset (mels); the batch has {', '.join(sorted(batch))}"
        )

    def _segments(
        self, lengths: torch.Tensor, *mels: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if not self.training or not self.segment_frames:
            return lengths, [m.float() for m in mels]
        index, lengths = random_segments(lengths, mels[0].shape[2], self.segment_frames)
        return lengths, [take_frames(m.float(), index) for m in mels]

    def _voice_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        speakers = batch["speakers"]
        lengths, (mels,) = self._segments(batch["mel_lengths"], batch["mels"])
        mask = lengths_to_mask(lengths, mels.shape[2])
        self.stats.update([(mels, mask, speakers)])
        rebuilt = self.decode(self.encode(mels, mask), speakers, mask)
        reconstruction = masked_l1(rebuilt, mels, mask)
        return {"loss": reconstruction, "reconstruction_loss": reconstruction}

    def _paired_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        _check_aligned(batch)
        lengths, (source, target) = self._segments(
            batch["source_mel_lengths"], batch["source_mels"], batch["target_mels"]
        )
        mask = lengths_to_mask(lengths, source.shape[2])
        source_speakers, target_speakers = batch["source_speakers"], batch["target_speakers"]
        self.stats.update([(source, mask, source_speakers), (target, mask, target_speakers)])
        codes = self.encode(source, mask)
        both = self.decode(
            torch.cat([codes, codes]),
            torch.cat([target_speakers, source_speakers]),
            torch.cat([mask, mask]),
        )
        converted, rebuilt = both[: source.shape[0]], both[source.shape[0] :]
        losses = {
            "conversion_loss": masked_l1(converted, target, mask),
            "reconstruction_loss": masked_l1(rebuilt, source, mask),
        }
        losses["loss"] = (
            self.weights["conversion"] * losses["conversion_loss"]
            + self.weights["reconstruction"] * losses["reconstruction_loss"]
        )
        return losses


def _check_aligned(batch: Mapping[str, torch.Tensor]) -> None:
    same_shape = batch["source_mels"].shape == batch["target_mels"].shape
    if not same_shape or not torch.equal(batch["source_mel_lengths"], batch["target_mel_lengths"]):
        raise AutovoiceError(
            "voice_converter needs each target mel aligned to its source's frames: use the "
            "paired dataset with data.options.align = 'dtw'"
        )


class VoiceConverterExport(nn.Module):
    """The exported graph: ``forward(mel, mel_lengths, speakers) -> converted``, the converter
    signature."""

    def __init__(self, model: VoiceConverter) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, mel: torch.Tensor, mel_lengths: torch.Tensor, speakers: torch.Tensor
    ) -> torch.Tensor:
        return self.model.convert(mel, mel_lengths, speakers)
