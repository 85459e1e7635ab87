"""The trainer's recipe for VoiceConverter: one module, one optimizer, one step."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from typing_extensions import Unpack

from autovoice.config.schema import AudioConfig
from autovoice.training.recipe import Batch, Recipe, RecipeInputs, evaluating, single_model_recipe
from autovoice_models.voice_converter.model import (
    BATCH_KEYS,
    VoiceConverter,
    VoiceConverterExport,
    masked_l1,
)
from autovoice_models.voice_converter.spec import (
    VoiceConverterOptions,
    converter_signature,
    model_kwargs,
)
from autovoice_models.voice_transformer.layers import lengths_to_mask

__all__ = ["build_model", "build_recipe"]


def build_model(
    options: VoiceConverterOptions, *, audio: AudioConfig, n_speakers: int
) -> VoiceConverter:
    """A VoiceConverter with the options' sizes for this audio setup and speaker count."""
    return VoiceConverter(
        n_mels=audio.n_mels,
        n_speakers=max(n_speakers, 1),
        mel_pad_value=math.log(audio.log_clamp),
        **model_kwargs(options),
    )


def _validate(model: VoiceConverter, batch: Batch) -> dict[str, float]:
    """The losses, ``val_loss`` (conversion on paired data, else reconstruction) and, on paired
    data, ``source_to_target``: the L1 of the unconverted source to its target, for scale."""
    with evaluating(model):
        losses = model.forward_for_training(batch)
    metrics = {name: float(value) for name, value in losses.items()}
    if "source_mels" in batch:
        mask = lengths_to_mask(batch["source_mel_lengths"], batch["source_mels"].shape[2])
        baseline = masked_l1(batch["source_mels"].float(), batch["target_mels"].float(), mask)
        metrics["source_to_target"] = float(baseline)
    metrics["val_loss"] = metrics.get("conversion_loss", metrics["reconstruction_loss"])
    return metrics


def _media(model: VoiceConverter, batch: Batch) -> dict[str, Any]:
    """Images of the first item: source, conversion (or reconstruction) and target mels."""
    paired = "source_mels" in batch
    mel = batch["source_mels" if paired else "mels"][:1]
    length = batch["source_mel_lengths" if paired else "mel_lengths"][:1]
    speaker = batch["target_speakers" if paired else "speakers"][:1]
    frames = int(length[0])
    with evaluating(model):
        converted = model.convert(mel, length, speaker)

    def image(tensor: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(tensor[0, :, :frames].detach().float().cpu().numpy())

    images = {"mel/source": image(mel), "mel/converted": image(converted)}
    if paired:
        images["mel/target"] = image(batch["target_mels"][:1])
    return images


def build_recipe(options: VoiceConverterOptions, **inputs: Unpack[RecipeInputs]) -> Recipe:
    """The recipe the trainer runs: noam-scheduled AdamW on the model's total loss.
    It reads no ``n_symbols``: mel in, mel out."""
    audio, training = inputs["audio"], inputs["training"]
    model = build_model(options, audio=audio, n_speakers=inputs["n_speakers"])

    return single_model_recipe(
        model,
        training=training,
        validate=_validate,
        signature=converter_signature(audio.n_mels),
        export=VoiceConverterExport,
        media=_media,
        batch_keys=BATCH_KEYS,
    )
