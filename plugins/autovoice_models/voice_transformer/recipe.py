"""The trainer's recipe for VoiceTransformer: one module, one optimizer, one step."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from typing_extensions import Unpack

from autovoice.config.schema import AudioConfig
from autovoice.signature import acoustic_signature
from autovoice.training.recipe import Batch, Recipe, RecipeInputs, evaluating, single_model_recipe
from autovoice_models.voice_transformer.model import (
    BATCH_KEYS,
    VoiceTransformer,
    VoiceTransformerExport,
)
from autovoice_models.voice_transformer.spec import VoiceTransformerOptions, model_kwargs

__all__ = ["build_model", "build_recipe"]


def build_model(
    options: VoiceTransformerOptions, *, audio: AudioConfig, n_symbols: int, n_speakers: int
) -> VoiceTransformer:
    """A VoiceTransformer with the options' sizes for this audio setup and symbol table."""
    return VoiceTransformer(
        n_symbols=n_symbols,
        n_speakers=n_speakers,
        n_mels=audio.n_mels,
        mel_pad_value=math.log(audio.log_clamp),
        **model_kwargs(options),
    )


def _validate(model: VoiceTransformer, batch: Batch) -> dict[str, float]:
    with evaluating(model):
        losses = model.forward_for_training(batch)
    metrics = {name: float(value) for name, value in losses.items()}
    metrics["val_loss"] = metrics["mel_loss"]
    return metrics


def _media(model: VoiceTransformer, batch: Batch) -> dict[str, Any]:
    """Images of the first item: target, teacher-forced and free-running mels, alignment."""
    first = {key: batch[key][:1] for key in BATCH_KEYS}
    frames, tokens = int(first["mel_lengths"][0]), int(first["token_lengths"][0])
    with evaluating(model):
        outputs = model.run_teacher_forced(first)
        pace = torch.ones(1, device=first["tokens"].device)
        mel, length, _ = model.infer(
            first["tokens"], first["token_lengths"], first["speakers"], pace
        )
    alignment = torch.softmax(outputs.log_probs[0, :frames, :tokens].float(), dim=-1)

    def image(tensor: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(tensor.detach().float().cpu().numpy())

    return {
        "mel/target": image(first["mels"][0, :, :frames]),
        "mel/teacher_forced": image(outputs.mel[0, :, :frames]),
        "mel/predicted": image(mel[0, :, : int(length[0])]),
        "mel/alignment": image(alignment.T),
        "mel/alignment_hard": image(outputs.hard[0, :frames, :tokens].T),
    }


def build_recipe(options: VoiceTransformerOptions, **inputs: Unpack[RecipeInputs]) -> Recipe:
    """The recipe the trainer runs: noam-scheduled AdamW on the model's total loss, with a mel
    discriminator and its own optimizer when ``adversarial_weight`` is set."""
    audio, training = inputs["audio"], inputs["training"]
    n_symbols, n_speakers = inputs["n_symbols"], inputs["n_speakers"]
    model = build_model(options, audio=audio, n_symbols=n_symbols, n_speakers=n_speakers)

    recipe = single_model_recipe(
        model,
        training=training,
        validate=_validate,
        signature=acoustic_signature(audio.n_mels),
        export=VoiceTransformerExport,
        media=_media,
        batch_keys=BATCH_KEYS,
    )
    if options.adversarial_weight == 0:
        return recipe
    from autovoice_models.voice_transformer.adversarial import adversarial_recipe

    return adversarial_recipe(
        recipe, model, weight=options.adversarial_weight,
        channels=options.discriminator_channels, learning_rate=training.learning_rate,
    )  # fmt: skip
