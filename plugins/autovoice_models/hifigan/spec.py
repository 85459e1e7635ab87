"""The ``hifigan`` vocoder spec and its options (attrs only: importing this never imports torch)."""

from __future__ import annotations

import attrs

from autovoice.config.fields import Check, each, ge, gt, one_of, optional, setting
from autovoice.specs import Requirement, VocoderSpec
from autovoice_models.hifigan.presets import PRESETS

DISCRIMINATORS = ("mpd+msd", "none")

_WHOLE = Check("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool))
_TUPLE = Check("a list", lambda v: isinstance(v, tuple))


def _as_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _int_list(doc: str) -> tuple[int, ...]:
    return setting(  # type: ignore[no-any-return]
        (), doc=doc, checks=[_TUPLE, each(_WHOLE), each(gt(0))], converter=_as_tuple
    )


@attrs.frozen(kw_only=True)
class HifiGanOptions:
    """The ``[vocoder.options]`` table of the ``hifigan`` vocoder."""

    preset: str = setting(
        "v1",
        doc='Generator size, as published: "v1" (13.9M parameters, best quality), "v2" (0.93M, '
        'fast; the one to train on a CPU) or "v3" (1.46M, fastest inference).',
        checks=[one_of(*PRESETS)],
    )
    upsample_rates: tuple[int, ...] = _int_list(
        "Upsampling factor of each transposed convolution, replacing the preset's; their product "
        "must equal audio.hop_length. Empty keeps the preset's (8, 8, 2, 2 or 8, 8, 4: hop 256)."
    )
    upsample_kernel_sizes: tuple[int, ...] = _int_list(
        "Kernel size of each transposed convolution; empty takes the preset's, or twice each "
        "rate (plus one for odd rates) when upsample_rates is set."
    )
    upsample_initial_channel: int = setting(
        0,
        doc="Channels after the input convolution, halved at every upsampling layer; 0 keeps "
        "the preset's (512, 128 or 256).",
        checks=[_WHOLE, ge(0)],
    )
    discriminators: str = setting(
        "mpd+msd",
        doc='"mpd+msd": multi-period and multi-scale discriminators (the full GAN); "none": '
        "spectral losses only, a fast warm-up that gives intelligible but buzzy audio.",
        checks=[one_of(*DISCRIMINATORS)],
    )
    adversarial_start_step: int = setting(
        0,
        doc="Training steps with spectral losses only before the discriminators join; on a "
        "CPU, a few thousand make the slow adversarial steps start from a sensible generator.",
        checks=[_WHOLE, ge(0)],
    )
    segment_size: int = setting(
        8192,
        doc="Samples of each training clip cut from an utterance; a multiple of audio.hop_length.",
        checks=[_WHOLE, gt(0)],
    )
    learning_rate: float | None = setting(
        None,
        doc="Learning rate of both optimizers; unset takes training.learning_rate "
        "(the paper uses 2e-4).",
        checks=[optional(gt(0))],
    )
    lr_decay: float = setting(
        0.999,
        doc="Factor the learning rate is multiplied by every lr_decay_steps steps (exponential).",
        checks=[gt(0)],
    )
    lr_decay_steps: int = setting(
        800,
        doc="Steps per lr_decay factor; the paper decays once per epoch, about 800 steps of 16 "
        "clips on LJSpeech.",
        checks=[_WHOLE, gt(0)],
    )
    mel_loss_weight: float = setting(
        45.0, doc="Weight of the L1 log-mel loss (the paper's 45).", checks=[ge(0)]
    )
    feature_loss_weight: float = setting(
        2.0,
        doc="Weight of the discriminator feature-matching loss (the paper's 2).",
        checks=[ge(0)],
    )
    stft_loss_weight: float = setting(
        0.0,
        doc="Weight of a multi-resolution STFT loss (spectral convergence + log magnitude at "
        "FFT sizes 512, 1024, 2048); 0 leaves it out, as the paper does.",
        checks=[ge(0)],
    )
    loss_f_max: float | None = setting(
        None,
        doc="Highest frequency (Hz) of the mel used by the mel loss; unset uses half the sample "
        "rate, as the paper does, so the loss also covers the band above audio.f_max.",
        checks=[optional(gt(0))],
    )


SPEC = VocoderSpec(
    name="hifigan",
    factory="autovoice_models.hifigan.recipe:build_recipe",
    requires=(Requirement(module="torch", package="torch"),),
    extra="train",
    options_type=HifiGanOptions,
    head="waveform",
    description="HiFi-GAN: a convolutional GAN vocoder (presets V1, V2, V3) with multi-period "
    "and multi-scale discriminators.",
)

__all__ = ["DISCRIMINATORS", "SPEC", "HifiGanOptions"]
