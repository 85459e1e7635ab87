"""The ``hifigan`` vocoder spec and its options (attrs only: importing this never imports torch)."""

from __future__ import annotations

import attrs

from autovoice.config.fields import A_LIST, WHOLE, as_tuple, each, ge, gt, one_of, optional, setting
from autovoice.specs import VocoderSpec
from autovoice_models import options as kit
from autovoice_models.hifigan.presets import PRESETS

DISCRIMINATORS = ("mpd+msd", "none")


def _int_list(doc: str) -> tuple[int, ...]:
    return setting(  # type: ignore[no-any-return]
        (), doc=doc, checks=[A_LIST, each(WHOLE), each(gt(0))], converter=as_tuple
    )


@attrs.frozen(kw_only=True)
class HifiGanOptions:
    """The ``[vocoder.options]`` table of the ``hifigan`` vocoder."""

    preset: str = kit.preset(
        "v1",
        PRESETS,
        'Generator size, as published: "v1" (13.9M parameters, best quality), "v2" (0.93M, '
        'fast; the one to train on a CPU) or "v3" (1.46M, fastest inference).',
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
        checks=[WHOLE, ge(0)],
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
        checks=[WHOLE, ge(0)],
    )
    segment_size: int = kit.segment_size(8192)
    learning_rate: float | None = kit.learning_rate(
        "Learning rate of both optimizers; unset takes training.learning_rate "
        "(the paper uses 2e-4)."
    )
    lr_decay: float = kit.lr_decay(0.999)
    lr_decay_steps: int = kit.lr_decay_steps(
        800,
        "Steps per lr_decay factor; the paper decays once per epoch, about 800 steps of 16 "
        "clips on LJSpeech.",
    )
    mel_loss_weight: float = kit.weight(45.0, "Weight of the L1 log-mel loss (the paper's 45).")
    feature_loss_weight: float = kit.weight(
        2.0, "Weight of the discriminator feature-matching loss (the paper's 2)."
    )
    stft_loss_weight: float = kit.weight(
        0.0,
        "Weight of a multi-resolution STFT loss (spectral convergence + log magnitude at "
        "FFT sizes 512, 1024, 2048); 0 leaves it out, as the paper does.",
    )
    loss_f_max: float | None = setting(
        None,
        doc="Highest frequency (Hz) of the mel used by the mel loss; unset uses half the sample "
        "rate, as the paper does, so the loss also covers the band above audio.f_max.",
        checks=[optional(gt(0))],
    )


SPEC = kit.torch_spec(
    VocoderSpec,
    "hifigan",
    HifiGanOptions,
    "HiFi-GAN: a convolutional GAN vocoder (presets V1, V2, V3) with multi-period "
    "and multi-scale discriminators.",
    module_class="autovoice_models.hifigan.generator:Generator",
    head="waveform",
)

__all__ = ["DISCRIMINATORS", "SPEC", "HifiGanOptions"]
