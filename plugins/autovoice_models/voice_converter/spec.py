"""The ``voice_converter`` model spec, its options and its graph signature (attrs only: no torch).

A preset (``tiny``, ``small``) fixes the sizes; any size option that is set overrides the
preset's value. :func:`model_kwargs` turns options into the flat keyword arguments of
:class:`~autovoice_models.voice_converter.model.VoiceConverter`.
"""

from __future__ import annotations

from typing import Any

import attrs

from autovoice.config.fields import ge, gt, setting
from autovoice.signature import GraphSignature, TensorSpec
from autovoice.specs import ModelSpec
from autovoice_models import options as kit

__all__ = [
    "PRESETS",
    "SIZE_FIELDS",
    "SPEC",
    "VoiceConverterOptions",
    "converter_signature",
    "model_kwargs",
]

SIZE_FIELDS = (*kit.TRANSFORMER_SIZES, "bottleneck_dim", "dropout")

PRESETS = kit.preset_table(
    SIZE_FIELDS,
    # d_model, encoder and decoder layers, heads, ff_dim, ff_kernel, bottleneck_dim, dropout
    tiny=(128, 2, 2, 2, 256, 5, 24, 0.1),
    small=(192, 4, 4, 2, 768, 5, 32, 0.1),
)
"""Sizes of the named presets; parameter counts are listed in docs/voice_conversion.md."""


def converter_signature(n_mels: int) -> GraphSignature:
    """Mel to mel: a source log-mel, its lengths and a target speaker id per item in; the
    converted log-mel out, frame for frame (padded frames hold the log of silence)."""
    return GraphSignature(
        inputs=(
            TensorSpec("mel", "float32", ("batch", n_mels, "frames")),
            TensorSpec("mel_lengths", "int64", ("batch",)),
            TensorSpec("speakers", "int64", ("batch",)),
        ),
        outputs=(TensorSpec("converted", "float32", ("batch", n_mels, "frames")),),
    )


@attrs.frozen(kw_only=True, field_transformer=kit.preset_first)
class VoiceConverterOptions(kit.TransformerSizes):
    """The ``[model.options]`` table of ``voice_converter``."""

    preset: str = kit.preset(
        "tiny",
        PRESETS,
        "Named size: tiny (about 1.1M parameters, trains on a CPU in minutes) or small "
        "(about 8.3M).",
    )
    bottleneck_dim: int | None = kit.size(
        "Channels of the content code between encoder and decoder; smaller keeps less of the "
        "source speaker."
    )
    dropout: float | None = kit.dropout("the blocks")
    segment_frames: int = setting(
        128,
        doc="Training cuts each utterance to a random segment of this many mel frames (cheaper "
        "steps; the model carries no absolute positions, so it converts any length); 0 trains "
        "on whole utterances.",
        checks=[ge(0)],
    )
    stats_batches: int = setting(
        100,
        doc="Training batches from which each speaker's per-band mel mean and standard "
        "deviation are gathered; they are frozen afterwards and saved with the model.",
        checks=[gt(0)],
    )
    conversion_weight: float = kit.loss_weight(
        1.0, "conversion loss (paired data: L1 to the DTW-aligned target)"
    )
    reconstruction_weight: float = kit.loss_weight(
        0.5,
        "reconstruction loss on paired data (the source rebuilt in its own voice; on voice data "
        "it is the whole loss)",
    )


_PRESET_SIZES = kit.PresetSizes(presets=PRESETS, fields=SIZE_FIELDS, odd=("ff_kernel",))


def model_kwargs(options: VoiceConverterOptions) -> dict[str, Any]:
    """The model's keyword arguments (sizes, loss weights, statistics window), checked."""
    return _PRESET_SIZES.model_kwargs(options)


SPEC = kit.torch_spec(
    ModelSpec,
    "voice_converter",
    VoiceConverterOptions,
    "VoiceConverter: source mel and target speaker to target mel; a transformer "
    "content encoder with an information bottleneck and a speaker-conditioned decoder, trained "
    "on paired (DTW-aligned) or plain voice data.",
)
