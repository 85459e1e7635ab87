"""The ``magnitude_gl`` vocoder spec and its options (attrs only: importing this never imports
torch)."""

from __future__ import annotations

import attrs

from autovoice.audio.griffin_lim import INITS
from autovoice.config.fields import WHOLE, Check, as_tuple, each, ge, gt, one_of, setting
from autovoice.specs import VocoderSpec
from autovoice_models import options as kit

_NON_EMPTY_LIST = Check("a non-empty list", lambda v: isinstance(v, tuple) and len(v) > 0)


@attrs.frozen(kw_only=True)
class MagnitudeGlOptions:
    """The ``[vocoder.options]`` table of the ``magnitude_gl`` vocoder.

    The network options shape what is trained; ``iterations``, ``momentum``, ``seed`` and
    ``init`` are the options of the ``griffin_lim`` head the voice bundle keeps for synthesis
    (they change nothing in training).
    """

    channels: int = setting(192, doc="Channels of the convolution stack.", checks=[WHOLE, gt(0)])
    dilations: tuple[int, ...] = setting(
        (1, 2, 4, 1, 2, 4),
        doc="One residual block per entry, with this dilation of its convolution over frames.",
        checks=[_NON_EMPTY_LIST, each(WHOLE), each(gt(0))],
        converter=as_tuple,
    )
    kernel_size: int = setting(
        5, doc="Width (frames) of each block's convolution.", checks=[WHOLE, gt(0), kit.ODD]
    )
    segment_size: int = kit.segment_size(16384)
    learning_rate: float | None = kit.learning_rate()
    lr_decay: float = kit.lr_decay(0.5)
    lr_decay_steps: int = kit.lr_decay_steps(2000)
    magnitude_floor: float = kit.magnitude_floor(
        "Magnitudes are clamped to this before the log of the log-magnitude loss (the "
        "features' log_clamp): quieter detail than this is not learned."
    )
    convergence_loss_weight: float = kit.weight(
        1.0,
        "Weight of the spectral convergence loss (linear magnitudes, dominated by the loud "
        "bins), added to the L1 log-magnitude loss.",
    )
    iterations: int = setting(32, doc="Griffin-Lim iterations at synthesis.", checks=[WHOLE, ge(0)])
    momentum: float = setting(
        0.99,
        doc="Momentum of the fast Griffin-Lim iteration at synthesis (0: the plain algorithm).",
        checks=[Check("in [0, 1)", lambda v: 0.0 <= v < 1.0)],
    )
    seed: int = setting(0, doc="Seed of Griffin-Lim's initial phases.", checks=[WHOLE, ge(0)])
    init: str = setting(
        "random",
        doc='Where Griffin-Lim starts: "random" phases (from seed), or "locked", the phase a '
        "peak-locked phase vocoder makes of the magnitude (docs/magnitude_gl.md).",
        checks=[one_of(*INITS)],
    )


SPEC = kit.torch_spec(
    VocoderSpec,
    "magnitude_gl",
    MagnitudeGlOptions,
    "Learned-magnitude Griffin-Lim: a convolution network predicts the linear "
    "magnitude from the mel, Griffin-Lim finds the phase; cheap to train on a CPU.",
    head="griffin_lim",
)

HEAD_FIELDS = ("iterations", "momentum", "seed", "init")
"""The options that are the ``griffin_lim`` head's, not the network's."""

__all__ = ["HEAD_FIELDS", "SPEC", "MagnitudeGlOptions"]
