"""The ``voice_transformer`` model spec and its options (attrs only: no torch here).

A preset (``tiny``, ``small``, ``base``) fixes the sizes; any size option that is set overrides
the preset's value. :func:`model_kwargs` turns options into the flat keyword arguments of
:class:`~autovoice_models.voice_transformer.model.VoiceTransformer`.
"""

from __future__ import annotations

from typing import Any

import attrs

from autovoice.config.fields import ge, gt, setting
from autovoice.errors import ConfigError, ConfigIssue
from autovoice.specs import ModelSpec
from autovoice_models import options as kit

__all__ = ["PRESETS", "SIZE_FIELDS", "SPEC", "VoiceTransformerOptions", "model_kwargs"]

SIZE_FIELDS = (
    *kit.TRANSFORMER_SIZES,
    "predictor_channels",
    "predictor_kernel",
    "aligner_dim",
    "dropout",
)

PRESETS = kit.preset_table(
    SIZE_FIELDS,
    # d_model, encoder and decoder layers, heads, ff_dim, ff_kernel, predictor channels and
    # kernel, aligner_dim, dropout
    tiny=(128, 2, 2, 2, 512, 3, 128, 3, 80, 0.1),
    small=(192, 4, 4, 2, 768, 3, 192, 3, 80, 0.1),
    base=(256, 6, 6, 2, 1024, 3, 256, 3, 80, 0.1),
)
"""Sizes of the named presets; parameter counts are listed in docs/voice_transformer.md."""


@attrs.frozen(kw_only=True, field_transformer=kit.preset_first)
class VoiceTransformerOptions(kit.TransformerSizes):
    """The ``[model.options]`` table of ``voice_transformer``."""

    preset: str = kit.preset(
        "small",
        PRESETS,
        "Named size: tiny (about 1.5M parameters, trains on a CPU in minutes), "
        "small (about 6M) or base (about 18M).",
    )
    predictor_channels: int | None = kit.size(
        "Channels of the duration, pitch and energy predictors."
    )
    predictor_kernel: int | None = kit.size("Kernel size of the predictors' convolutions (odd).")
    aligner_dim: int | None = kit.size("Width of the aligner's text and mel encodings.")
    dropout: float | None = kit.dropout("blocks and predictors")
    max_duration: int = setting(
        75, doc="Most mel frames one token may last at inference.", checks=[gt(0)]
    )
    variance_scale: float = setting(
        1.0,
        doc="Inference only: each mel band's deviation from its mean over the utterance is "
        "multiplied by this, a global-variance post-filter for mels that come out smoother than "
        "the recordings (above 1: more variance; 1: off). It changes no weight, so export sets "
        "it on a trained model: autovoice export --set model.options.variance_scale=1.03.",
        checks=[gt(0)],
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
    duration_weight: float = kit.loss_weight(0.1, "log-duration loss")
    pitch_weight: float = kit.loss_weight(0.1, "pitch loss")
    energy_weight: float = kit.loss_weight(0.1, "energy loss")
    align_weight: float = kit.loss_weight(1.0, "aligner's forward-sum loss")
    bin_weight: float = kit.loss_weight(1.0, "aligner's binarization loss (after its warm-up)")
    adversarial_weight: float = setting(
        0.0,
        doc="Weight of the adversarial mel loss (a small mel discriminator trained beside the "
        "model, least-squares GAN); 0: no discriminator.",
        checks=[ge(0)],
    )
    discriminator_channels: int = setting(
        16, doc="Channels of the mel discriminator's convolutions.", checks=[gt(0)]
    )
    postnet_layers: int = setting(
        0,
        doc="Convolutions of a post-net that refines the decoder's mel (a residual whose last "
        "layer starts at zero, so a model trained without one continues unchanged after "
        "--init); the decoder's own mel keeps an L1 loss of its own. 0: no post-net.",
        checks=[ge(0)],
    )
    postnet_channels: int = setting(
        256, doc="Channels of the post-net's convolutions.", checks=[gt(0)]
    )
    postnet_kernel: int = setting(
        5, doc="Width (frames) of the post-net's convolutions (odd).", checks=[gt(0), kit.ODD]
    )
    frame_pitch_block: int = setting(
        0,
        doc="Decoder block after which pitch is predicted at frame rate (the token pitch plus "
        "a contour within each token, and voicing) and added to the frames the later blocks "
        "read: the teacher's contour in training, the prediction at inference. Its embedding "
        "starts at zero, so a model trained without it continues unchanged after --init. "
        "0: token pitch only.",
        checks=[ge(0)],
    )
    frame_pitch_weight: float = kit.loss_weight(
        0.1, "frame pitch losses (contour where voiced, voicing)"
    )


RECIPE_FIELDS = ("adversarial_weight", "discriminator_channels")
"""Options of the training recipe, not of the model."""
_PRESET_SIZES = kit.PresetSizes(
    presets=PRESETS,
    fields=SIZE_FIELDS,
    odd=("ff_kernel", "predictor_kernel"),
    recipe_fields=RECIPE_FIELDS,
)


def model_kwargs(options: VoiceTransformerOptions) -> dict[str, Any]:
    """The model's keyword arguments (sizes, loss weights, schedules), checked together."""
    kwargs = _PRESET_SIZES.model_kwargs(options)
    if options.frame_pitch_block > kwargs["decoder_layers"]:
        message = (
            f"must be at most decoder_layers ({kwargs['decoder_layers']}), "
            f"got {options.frame_pitch_block}"
        )
        raise ConfigError([ConfigIssue("$.model.options.frame_pitch_block", message)])
    return kwargs


SPEC = kit.torch_spec(
    ModelSpec,
    "voice_transformer",
    VoiceTransformerOptions,
    "VoiceTransformer: a non-autoregressive transformer (FastPitch family) that "
    "learns its own alignment, with duration, pitch and energy predictors and speaker embeddings.",
    module_class="autovoice_models.voice_transformer.model:VoiceTransformer",
    export_class="autovoice_models.voice_transformer.model:VoiceTransformerExport",
    inference_options=("max_duration", "variance_scale"),
)
