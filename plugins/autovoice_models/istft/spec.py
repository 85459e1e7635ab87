"""The ``istft`` vocoder spec and its options (attrs only: importing this never imports torch)."""

from __future__ import annotations

import attrs

from autovoice.audio.griffin_lim import MOMENTUM
from autovoice.config.fields import WHOLE, ge, one_of, setting
from autovoice.heads import IstftHeadOptions
from autovoice.specs import VocoderSpec
from autovoice_models import options as kit

PRESETS: dict[str, tuple[int, int, int]] = {
    "tiny": (128, 384, 4),
    "small": (192, 576, 6),
    "base": (384, 1152, 8),
    "large": (512, 1536, 8),
}
"""``(dim, intermediate, layers)`` of each preset: 0.67M, 1.75M, 7.9M and 13.7M parameters
(80 mel bands, n_fft 1024); ``large`` is the size of Vocos."""
OUTPUTS = ("waveform", "spectrum")
DISCRIMINATORS = ("none", "mrd", "phase")


@attrs.frozen(kw_only=True)
class IstftOptions:
    """The ``[vocoder.options]`` table of the ``istft`` vocoder."""

    preset: str = kit.preset(
        "small",
        PRESETS,
        'Network size: "tiny" (0.67M parameters), "small" (1.75M, the default voice\'s), '
        '"base" (7.9M) or "large" (13.7M, the size of Vocos).',
    )
    dim: int = setting(0, doc="Channels of the backbone; 0 keeps the preset's.", checks=[ge(0)])
    intermediate: int = setting(
        0, doc="Hidden width of each block's MLP; 0 keeps the preset's.", checks=[ge(0)]
    )
    layers: int = setting(0, doc="ConvNeXt blocks; 0 keeps the preset's.", checks=[ge(0)])
    kernel_size: int = setting(
        7, doc="Width (frames) of each block's depthwise convolution.", checks=[WHOLE, kit.ODD]
    )
    output: str = setting(
        "spectrum",
        doc='What the exported graph outputs: "spectrum" (real and imaginary parts; the '
        'istft head inverts them with numpy\'s FFT, on every backend) or "waveform" (the '
        "inverse STFT inside the graph, as a fixed-basis matrix product and overlap-add). "
        '"spectrum" is the faster on ONNX Runtime for the tiny and small presets, whose '
        'network costs less than the basis product; for large, "waveform" is '
        "(benchmarks/bench_istft.py, docs/istft.md).",
        checks=[one_of(*OUTPUTS)],
    )
    frame_clock: bool = setting(
        False,
        doc="Give the network the frame index modulo n_fft / hop_length (as cosines and "
        "sines), which a bin's phase advance at its centre frequency repeats with: without it "
        "a convolution over a steady mel makes the same phase every frame (docs/istft.md).",
    )
    bin_rotation: bool = setting(
        False,
        doc="Turn each bin's predicted phase by its centre frequency's advance, 2π k hop / "
        "n_fft per frame: the network predicts the phase relative to that, and a steady "
        "output makes tones at the bins' centres, not at multiples of sample_rate / hop "
        "(docs/istft.md).",
    )
    integrated_phase: bool = setting(
        False,
        doc="Predict each bin's phase advance per frame as well, and turn the phase by its "
        "running sum over frames (GANSynth's instantaneous frequency): a steady advance makes "
        "a steady tone at any frequency, where a steady phase repeats every frame. The "
        "instantaneous-phase loss is then left out (an integrated phase drifts by the sum of "
        "its errors); group delay and instantaneous frequency stay. Lost from a warm start: "
        "each bin drifts alone (docs/istft.md).",
    )
    harmonic_below_hz: float = setting(
        0.0,
        doc="Above 0: lock the phase of the bins below this frequency to the harmonics of an "
        "f0 the network predicts (its fundamental's phase summed over frames, each bin turned "
        "by its harmonic's multiple of it), so that an f0 error moves the harmonics together; "
        "the predicted f0 is trained against the recording's (f0_loss_weight), which needs "
        "$.data.options.pitch = true. 0: off (docs/istft.md).",
        checks=[ge(0)],
    )
    harmonic_only: bool = setting(
        False,
        doc="With harmonic_below_hz: the locked direction alone gives the phase of the bins "
        "below it (the direct phase is left out there), and the instantaneous-phase loss is "
        "left out, as the locked phase drifts from the recording's with the f0's errors. "
        "Off: the locked direction is added to the direct one, which starts a trained "
        "network where it left off.",
    )
    f0_loss_weight: float = kit.weight(
        10.0,
        "With harmonic_below_hz: L1 distance of the predicted log-f0 to the recording's, over "
        "the frames the recording is voiced in.",
    )
    projections: int = setting(
        0,
        doc="Griffin-Lim projections after the inverse STFT at synthesis (the istft head's "
        "projections), started from the predicted phase: each takes the STFT of the "
        "waveform, keeps its phase (with projection_momentum, extrapolated as fast "
        "Griffin-Lim does) and the predicted magnitude, and inverts again. 0: one inverse STFT "
        "(docs/istft.md).",
        checks=[WHOLE, ge(0)],
    )
    projection_momentum: float = setting(
        0.0,
        doc="Momentum of the projections (fast Griffin-Lim's, as the griffin_lim head's "
        "momentum); 0: plain projections.",
        checks=[MOMENTUM],
    )
    projection_decimation: int = setting(
        1,
        doc="Run the projections on the band below sample_rate / (2 * D) alone, at 1 / D of "
        "the sample rate and about 1 / D of the work (the istft head's "
        "projection_decimation): the phase they find replaces the predicted one below 75% of "
        "that band's top, blends into it up to 85%, and the predicted phase is kept above. "
        "D must divide n_fft, hop_length, win_length and the STFT padding; 1: the whole band "
        "(docs/istft.md).",
        checks=[WHOLE, ge(1)],
    )
    projections_in_training: bool = setting(
        False,
        doc="Train with the projections in the loop: the waveform the losses see is the "
        "projected one (the consistency loss still reads the network's own spectrum). From "
        "the kept checkpoint it did no better than adding them after training "
        "(docs/istft.md).",
    )
    segment_size: int = kit.segment_size(16384)
    learning_rate: float | None = kit.learning_rate()
    lr_decay: float = kit.lr_decay(0.5)
    lr_decay_steps: int = kit.lr_decay_steps(5000)
    magnitude_floor: float = kit.magnitude_floor(
        "Magnitudes are clamped to this before a log is taken."
    )
    mel_loss_weight: float = kit.weight(45.0, "L1 log-mel distance of the generated waveform.")
    magnitude_loss_weight: float = kit.weight(
        45.0, "L1 distance of the predicted log-magnitude to the real clip's (APNet's 45)."
    )
    phase_loss_weight: float = kit.weight(
        20.0,
        "Weight of the anti-wrapped phase losses (instantaneous phase, group delay and "
        "instantaneous frequency, summed). APNet's 100 pulls the phase towards the recording's, "
        "which the mel does not determine above about 1 kHz; from one checkpoint, 500 steps "
        "at 20 (with spectrum_loss_weight 0 and stft_loss_weight 15) raised copy-synthesis PESQ "
        "from 3.04 to 3.28 where 500 at APNet's weights gave 3.00 (docs/istft.md).",
    )
    phase_weighting: str = setting(
        "magnitude",
        doc='"magnitude": each phase loss is a mean weighted by the real clip\'s magnitude (the '
        "geometric mean of both ends for a difference), so near-silent bins, whose phase is "
        'noise, hardly count; "none": plain means over bins and frames, as in APNet. From the '
        "same checkpoint, 2000 more steps gave copy-synthesis PESQ 2.40 weighted and 1.87 plain "
        "(docs/istft.md).",
        checks=[one_of("none", "magnitude")],
    )
    spectrum_loss_weight: float = kit.weight(
        0.0,
        "L1 distance of the predicted real and imaginary parts to the real clip's (APNet's "
        "45); off by default, as it too asks for the recording's phase (docs/istft.md).",
    )
    consistency_loss_weight: float = kit.weight(
        20.0,
        "Distance of the predicted spectrum to the STFT of the waveform it makes (APNet's "
        "consistency loss, 20).",
    )
    stft_loss_weight: float = kit.weight(
        15.0,
        "Multi-resolution STFT loss of the waveform (FFT sizes 512, 1024, 2048): it asks for a "
        "phase that makes the right magnitudes, at any phase the recording has.",
    )
    discriminators: str = setting(
        "none",
        doc='"none": the spectral and phase losses alone; "mrd": add a multi-resolution '
        'spectrogram discriminator; "phase": add a discriminator of the phase structure (the '
        "instantaneous frequency and group delay below 4 kHz, with the log-magnitude). Both "
        "least-squares GANs with feature matching.",
        checks=[one_of(*DISCRIMINATORS)],
    )
    adversarial_start_step: int = setting(
        0, doc="Steps before the discriminator joins.", checks=[WHOLE, ge(0)]
    )
    adversarial_weight: float = kit.weight(1.0, "Weight of the adversarial loss.")
    feature_loss_weight: float = kit.weight(2.0, "Weight of the feature-matching loss.")


SPEC = kit.torch_spec(
    VocoderSpec,
    "istft",
    IstftOptions,
    "iSTFT vocoder: ConvNeXt blocks at frame rate predict magnitude and phase, "
    "one inverse STFT makes the waveform (Vocos/APNet family); fast on a CPU.",
)

HEAD_FIELDS = tuple(attrs.fields_dict(IstftHeadOptions))
"""The options that are the ``istft`` head's (they go into the bundle's head options)."""

__all__ = ["DISCRIMINATORS", "HEAD_FIELDS", "OUTPUTS", "PRESETS", "SPEC", "IstftOptions"]
