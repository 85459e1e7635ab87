"""The ``voice_transformer`` model spec and its options (attrs only: no torch here).

A preset (``tiny``, ``small``, ``base``) fixes the sizes; any size option that is set overrides
the preset's value. :func:`model_kwargs` turns options into the flat keyword arguments of
:class:`~autovoice_models.voice_transformer.model.VoiceTransformer`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import attrs

from autovoice.config.fields import Check, between, ge, gt, one_of, optional, setting
from autovoice.errors import ConfigError, ConfigIssue
from autovoice.specs import ModelSpec, Requirement

__all__ = ["PRESETS", "SIZE_FIELDS", "SPEC", "VoiceTransformerOptions", "model_kwargs"]

SIZE_FIELDS = (
    "d_model",
    "encoder_layers",
    "decoder_layers",
    "heads",
    "ff_dim",
    "ff_kernel",
    "predictor_channels",
    "predictor_kernel",
    "aligner_dim",
    "dropout",
)

PRESETS: MappingProxyType[str, MappingProxyType[str, Any]] = MappingProxyType(
    {
        "tiny": MappingProxyType(
            {
                "d_model": 128,
                "encoder_layers": 2,
                "decoder_layers": 2,
                "heads": 2,
                "ff_dim": 512,
                "ff_kernel": 3,
                "predictor_channels": 128,
                "predictor_kernel": 3,
                "aligner_dim": 80,
                "dropout": 0.1,
            }
        ),
        "small": MappingProxyType(
            {
                "d_model": 192,
                "encoder_layers": 4,
                "decoder_layers": 4,
                "heads": 2,
                "ff_dim": 768,
                "ff_kernel": 3,
                "predictor_channels": 192,
                "predictor_kernel": 3,
                "aligner_dim": 80,
                "dropout": 0.1,
            }
        ),
        "base": MappingProxyType(
            {
                "d_model": 256,
                "encoder_layers": 6,
                "decoder_layers": 6,
                "heads": 2,
                "ff_dim": 1024,
                "ff_kernel": 3,
                "predictor_channels": 256,
                "predictor_kernel": 3,
                "aligner_dim": 80,
                "dropout": 0.1,
            }
        ),
    }
)
"""Sizes of the named presets; parameter counts are listed in docs/voice_transformer.md."""

_SIZE = optional(gt(0))


def _size(doc: str) -> Any:
    return setting(None, doc=f"{doc} Unset: the preset's value.", checks=[_SIZE])


def _weight(default: float, what: str) -> Any:
    return setting(default, doc=f"Weight of the {what} in the total loss.", checks=[ge(0)])


@attrs.frozen(kw_only=True)
class VoiceTransformerOptions:
    """The ``[model.options]`` table of ``voice_transformer``."""

    preset: str = setting(
        "small",
        doc="Named size: tiny (about 1.5M parameters, trains on a CPU in minutes), "
        "small (about 6M) or base (about 18M).",
        checks=[one_of(*PRESETS)],
    )
    d_model: int | None = _size("Width of the encoder, decoder and embeddings (even).")
    encoder_layers: int | None = _size("Transformer blocks of the text encoder.")
    decoder_layers: int | None = _size("Transformer blocks of the mel decoder.")
    heads: int | None = _size("Attention heads; must divide d_model.")
    ff_dim: int | None = _size("Inner width of each block's convolutional feed-forward.")
    ff_kernel: int | None = _size("Kernel size of the feed-forward's first convolution (odd).")
    predictor_channels: int | None = _size("Channels of the duration, pitch and energy predictors.")
    predictor_kernel: int | None = _size("Kernel size of the predictors' convolutions (odd).")
    aligner_dim: int | None = _size("Width of the aligner's text and mel encodings.")
    dropout: float | None = setting(
        None,
        doc="Dropout probability in blocks and predictors. Unset: the preset's value.",
        checks=[optional(between(0, 0.9))],
    )
    max_duration: int = setting(
        75, doc="Most mel frames one token may last at inference.", checks=[gt(0)]
    )
    prior_scaling: float = setting(
        1.0,
        doc="Scale of the beta-binomial alignment prior; smaller is a sharper diagonal.",
        checks=[gt(0)],
    )
    bin_loss_start_step: int = setting(
        1000,
        doc="Training batches before the alignment binarization loss is switched on.",
        checks=[ge(0)],
    )
    bin_loss_warmup_steps: int = setting(
        500,
        doc="Training batches over which the binarization loss weight ramps up to bin_weight.",
        checks=[ge(0)],
    )
    stats_batches: int = setting(
        200,
        doc="Training batches from which the pitch and energy normalization statistics are "
        "gathered; they are frozen afterwards and saved with the model.",
        checks=[gt(0)],
    )
    duration_weight: float = _weight(0.1, "log-duration loss")
    pitch_weight: float = _weight(0.1, "pitch loss")
    energy_weight: float = _weight(0.1, "energy loss")
    align_weight: float = _weight(1.0, "aligner's forward-sum loss")
    bin_weight: float = _weight(1.0, "aligner's binarization loss (after its warm-up)")
    adversarial_weight: float = setting(
        0.0,
        doc="Weight of the adversarial mel loss (a small mel discriminator trained beside the "
        "model, least-squares GAN); 0: no discriminator.",
        checks=[ge(0)],
    )
    discriminator_channels: int = setting(
        16, doc="Channels of the mel discriminator's convolutions.", checks=[gt(0)]
    )


_ODD = Check("odd", lambda v: v % 2 == 1)
RECIPE_FIELDS = ("adversarial_weight", "discriminator_channels")
"""Options of the training recipe, not of the model."""


def sizes(options: VoiceTransformerOptions) -> dict[str, Any]:
    """The preset's sizes with the options' overrides applied."""
    chosen = dict(PRESETS[options.preset])
    for name in SIZE_FIELDS:
        value = getattr(options, name)
        if value is not None:
            chosen[name] = value
    return chosen


def _problems(chosen: dict[str, Any]) -> list[ConfigIssue]:
    issues = []
    if chosen["d_model"] % 2:
        message = f"must be even (sine and cosine halves), got {chosen['d_model']}"
        issues.append(ConfigIssue("$.model.options.d_model", message))
    if chosen["d_model"] % chosen["heads"]:
        message = f"must divide d_model ({chosen['d_model']}), got {chosen['heads']}"
        issues.append(ConfigIssue("$.model.options.heads", message))
    for name in ("ff_kernel", "predictor_kernel"):
        if not _ODD.test(chosen[name]):
            issues.append(
                ConfigIssue(f"$.model.options.{name}", f"must be odd, got {chosen[name]}")
            )
    return issues


def model_kwargs(options: VoiceTransformerOptions) -> dict[str, Any]:
    """The model's keyword arguments (sizes, loss weights, schedules), checked together."""
    chosen = sizes(options)
    issues = _problems(chosen)
    if issues:
        raise ConfigError(issues)
    rest = {
        a.name: getattr(options, a.name)
        for a in attrs.fields(VoiceTransformerOptions)
        if a.name != "preset" and a.name not in SIZE_FIELDS and a.name not in RECIPE_FIELDS
    }
    return {**chosen, **rest}


SPEC = ModelSpec(
    name="voice_transformer",
    factory="autovoice_models.voice_transformer.recipe:build_recipe",
    requires=(Requirement(module="torch", package="torch"),),
    extra="train",
    options_type=VoiceTransformerOptions,
    description="VoiceTransformer: a non-autoregressive transformer (FastPitch family) that "
    "learns its own alignment, with duration, pitch and energy predictors and speaker embeddings.",
)
