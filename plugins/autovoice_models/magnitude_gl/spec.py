"""The ``magnitude_gl`` vocoder spec and its options (attrs only: importing this never imports
torch)."""

from __future__ import annotations

import attrs

from autovoice.config.fields import Check, each, ge, gt, optional, setting
from autovoice.specs import Requirement, VocoderSpec

_WHOLE = Check("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool))
_TUPLE = Check("a non-empty list", lambda v: isinstance(v, tuple) and len(v) > 0)
_ODD = Check("odd", lambda v: isinstance(v, int) and v % 2 == 1)


def _as_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@attrs.frozen(kw_only=True)
class MagnitudeGlOptions:
    """The ``[vocoder.options]`` table of the ``magnitude_gl`` vocoder.

    The network options shape what is trained; ``iterations``, ``momentum`` and ``seed`` are the
    options of the ``griffin_lim`` head the voice bundle keeps for synthesis (they change nothing
    in training).
    """

    channels: int = setting(192, doc="Channels of the convolution stack.", checks=[_WHOLE, gt(0)])
    dilations: tuple[int, ...] = setting(
        (1, 2, 4, 1, 2, 4),
        doc="One residual block per entry, with this dilation of its convolution over frames.",
        checks=[_TUPLE, each(_WHOLE), each(gt(0))],
        converter=_as_tuple,
    )
    kernel_size: int = setting(
        5, doc="Width (frames) of each block's convolution.", checks=[_WHOLE, gt(0), _ODD]
    )
    segment_size: int = setting(
        16384,
        doc="Samples of each training clip cut from an utterance; a multiple of audio.hop_length.",
        checks=[_WHOLE, gt(0)],
    )
    learning_rate: float | None = setting(
        None,
        doc="Learning rate; unset takes training.learning_rate.",
        checks=[optional(gt(0))],
    )
    lr_decay: float = setting(
        0.5,
        doc="Factor the learning rate is multiplied by every lr_decay_steps steps (exponential).",
        checks=[gt(0)],
    )
    lr_decay_steps: int = setting(2000, doc="Steps per lr_decay factor.", checks=[_WHOLE, gt(0)])
    magnitude_floor: float = setting(
        1e-5,
        doc="Magnitudes are clamped to this before the log of the log-magnitude loss (the "
        "features' log_clamp): quieter detail than this is not learned.",
        checks=[gt(0)],
    )
    convergence_loss_weight: float = setting(
        1.0,
        doc="Weight of the spectral convergence loss (linear magnitudes, dominated by the loud "
        "bins), added to the L1 log-magnitude loss.",
        checks=[ge(0)],
    )
    iterations: int = setting(
        32, doc="Griffin-Lim iterations at synthesis.", checks=[_WHOLE, ge(0)]
    )
    momentum: float = setting(
        0.99,
        doc="Momentum of the fast Griffin-Lim iteration at synthesis (0: the plain algorithm).",
        checks=[Check("in [0, 1)", lambda v: 0.0 <= v < 1.0)],
    )
    seed: int = setting(0, doc="Seed of Griffin-Lim's initial phases.", checks=[_WHOLE, ge(0)])


SPEC = VocoderSpec(
    name="magnitude_gl",
    factory="autovoice_models.magnitude_gl.recipe:build_recipe",
    requires=(Requirement(module="torch", package="torch"),),
    extra="train",
    options_type=MagnitudeGlOptions,
    head="griffin_lim",
    description="Learned-magnitude Griffin-Lim: a convolution network predicts the linear "
    "magnitude from the mel, Griffin-Lim finds the phase; cheap to train on a CPU.",
)

HEAD_FIELDS = ("iterations", "momentum", "seed")
"""The options that are the ``griffin_lim`` head's, not the network's."""

__all__ = ["HEAD_FIELDS", "SPEC", "MagnitudeGlOptions"]
