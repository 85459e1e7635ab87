"""How the iSTFT vocoder trains: the factory of the ``istft`` spec.

The generator step predicts the log-magnitude and phase of the batch's clips from their mels,
makes the waveform with the inverse STFT, and minimizes a weighted sum of (APNet's losses, plus
the multi-resolution STFT loss of Parallel WaveGAN):

- ``magnitude_loss``: L1 of the log-magnitude against the real clip's;
- ``ip_loss + gd_loss + iaf_loss``: the anti-wrapped phase losses (:mod:`.losses`), without
  ``ip_loss`` where the phase is integrated (``integrated_phase``, or ``harmonic_only``: its
  absolute value drifts by the sum of the advance's errors, which no listener hears);
- ``spectrum_loss``: L1 of the real and imaginary parts against the real clip's;
- ``consistency_loss``: L1 of the predicted spectrum against the STFT of the waveform it makes
  (a spectrum no waveform has is not a spectrum at all);
- ``mel_loss``: L1 of the waveform's log-mel against the real clip's;
- ``stft_loss``: spectral convergence and log-magnitude L1 at three other resolutions;
- ``f0_loss`` (with ``harmonic_below_hz``): L1 of the harmonic phase's predicted log-f0 against
  the recording's, over its voiced frames (``audio_pitch`` in the batch).

With ``discriminators = "mrd"`` (a multi-resolution spectrogram discriminator) or ``"phase"``
(:class:`~autovoice_models.istft.discriminators.PhaseDiscriminator`) a discriminator step runs
first (from ``adversarial_start_step``), as in :mod:`autovoice_models.hifigan.recipe`, and the
generator step adds the least-squares adversarial and feature-matching losses.

Batches carry ``"audio"`` ``(batch, samples)`` and ``"audio_mels"`` ``(batch, n_mels, samples //
hop)``; for fine-tuning the dataset puts the acoustic model's predicted mels under
``"audio_mels"``, and every target stays the real audio's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import Unpack

from autovoice.config.fields import hop_multiple
from autovoice.config.schema import AudioConfig
from autovoice.errors import ConfigError, ConfigIssue
from autovoice.heads import HeadError, get_head
from autovoice.signature import GraphSignature, spectrum_signature, vocoder_signature
from autovoice.training.recipe import Batch, Recipe, RecipeInputs
from autovoice_models.hifigan.losses import (
    MultiResolutionSTFTLoss,
    adversarial_loss,
    discriminator_loss,
    feature_matching_loss,
)
from autovoice_models.hifigan.recipe import (
    BATCH_KEYS,
    FrameRateTraining,
    first_frames,
    follow,
    frozen,
    gan_recipe,
    trained_copy,
)
from autovoice_models.istft.discriminators import (
    MultiResolutionDiscriminator,
    PhaseDiscriminator,
)
from autovoice_models.istft.losses import phase_losses
from autovoice_models.istft.model import (
    IstftNet,
    IstftSpectrumExport,
    IstftWaveExport,
    polar,
)
from autovoice_models.istft.spec import HEAD_FIELDS, PRESETS, IstftOptions
from autovoice_models.voice_transformer.targets import frame_log_f0


def build_net(options: IstftOptions, audio: AudioConfig) -> IstftNet:
    """The network ``options`` ask for (preset sizes, overridden where set), on ``audio``."""
    dim, intermediate, layers = PRESETS[options.preset]
    return IstftNet(
        audio,
        dim=options.dim or dim,
        intermediate=options.intermediate or intermediate,
        layers=options.layers or layers,
        kernel_size=options.kernel_size,
        floor=options.magnitude_floor,
        frame_clock=options.frame_clock,
        bin_rotation=options.bin_rotation,
        integrated_phase=options.integrated_phase,
        harmonic_below_hz=options.harmonic_below_hz,
        harmonic_only=options.harmonic_only,
    )


def _discriminator(name: str, audio: AudioConfig) -> nn.Module | None:
    """The discriminator ``options.discriminators`` names (None for ``"none"``)."""
    if name == "mrd":
        return MultiResolutionDiscriminator()
    if name == "phase":
        return PhaseDiscriminator(
            sample_rate=audio.sample_rate, n_fft=audio.n_fft, hop_length=audio.hop_length
        )
    return None


class IstftTraining(FrameRateTraining[IstftNet, IstftOptions]):
    """The modules of one run and the losses of its steps."""

    def __init__(self, net: IstftNet, audio: AudioConfig, options: IstftOptions) -> None:
        super().__init__(net, audio, options)
        self.stft_loss = MultiResolutionSTFTLoss()
        self.discriminator = _discriminator(options.discriminators, audio)

    def generate(self, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """Everything the losses read: log-magnitude, phase, spectrum and waveform."""
        log_magnitude, r, i, log_f0 = self.net.predict(mel)
        real, imag = polar(log_magnitude, r, i)
        wave = self.net.istft(real, imag)
        out = {
            "log_magnitude": log_magnitude,
            "phase": torch.atan2(i, r),
            "real": real,
            "imag": imag,
            **({} if log_f0 is None else {"log_f0": log_f0}),
        }
        trained = self.options.projections_in_training
        out["wave"] = self.project(wave, log_magnitude, out) if trained else wave
        return out

    def project(
        self, wave: torch.Tensor, log_magnitude: torch.Tensor, out: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """``wave`` after ``options.projections`` steps of (fast) Griffin-Lim towards the
        predicted magnitude, as :func:`autovoice.audio.griffin_lim.griffin_lim_spectrum` runs
        them; the first STFT goes into ``out["rebuilt"]``."""
        weight = self.options.projection_momentum / (1.0 + self.options.projection_momentum)
        previous: torch.Tensor | None = None
        for _ in range(self.options.projections):
            spectrum = follow(self.features, wave).spectrum(wave)
            rebuilt = first_frames(spectrum, log_magnitude.shape[-1])
            step = rebuilt if previous is None else rebuilt - weight * previous
            if previous is None:
                out["rebuilt"] = rebuilt
            previous = rebuilt
            wave = self.net.istft(*polar(log_magnitude, step.real, step.imag))
        return wave

    def _targets(self, audio: torch.Tensor, frames: int) -> dict[str, torch.Tensor]:
        features = follow(self.features, audio)
        with torch.no_grad():
            spectrum = features.spectrum(audio)
            mel = features.of_spectrum(spectrum)
        spectrum = first_frames(spectrum, frames)
        floor = self.options.magnitude_floor
        magnitude = spectrum.abs()
        weighted = self.options.phase_weighting == "magnitude"
        return {
            **({"weight": magnitude} if weighted else {}),
            "log_magnitude": torch.log(torch.clamp(magnitude, min=floor)),
            "phase": torch.angle(spectrum),
            "real": spectrum.real,
            "imag": spectrum.imag,
            "mel": mel[..., :frames],
        }

    def spectral_losses(
        self, out: dict[str, torch.Tensor], batch: Batch
    ) -> dict[str, torch.Tensor]:
        """Every loss but the adversarial ones, unweighted."""
        audio = batch["audio"]
        target = self._targets(audio, out["real"].shape[-1])
        wave = out["wave"]
        features = follow(self.features, wave)
        spectrum = features.spectrum(wave)
        regenerated = out.get("rebuilt", spectrum[..., : out["real"].shape[-1]])
        losses = {
            "magnitude_loss": F.l1_loss(out["log_magnitude"], target["log_magnitude"]),
            **phase_losses(out["phase"], target["phase"], target.get("weight")),
            "spectrum_loss": F.l1_loss(out["real"], target["real"])
            + F.l1_loss(out["imag"], target["imag"]),
            "consistency_loss": F.l1_loss(regenerated.real, out["real"])
            + F.l1_loss(regenerated.imag, out["imag"]),
            "mel_loss": F.l1_loss(
                features.of_spectrum(spectrum)[..., : target["mel"].shape[-1]], target["mel"]
            ),
            "stft_loss": follow(self.stft_loss, wave)(wave, audio[..., : wave.shape[-1]]),
        }
        if "log_f0" in out:
            losses["f0_loss"] = f0_loss(out["log_f0"], _pitch_of(batch))
        return losses

    def weighted(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        o = self.options
        phase = losses["gd_loss"] + losses["iaf_loss"]
        if not (o.integrated_phase or (o.harmonic_below_hz > 0 and o.harmonic_only)):
            phase = phase + losses["ip_loss"]
        total: torch.Tensor = (
            o.magnitude_loss_weight * losses["magnitude_loss"]
            + o.phase_loss_weight * phase
            + o.spectrum_loss_weight * losses["spectrum_loss"]
            + o.consistency_loss_weight * losses["consistency_loss"]
            + o.mel_loss_weight * losses["mel_loss"]
            + o.stft_loss_weight * losses["stft_loss"]
        )
        if "f0_loss" in losses:
            total = total + o.f0_loss_weight * losses["f0_loss"]
        return total

    def discriminator_step(self, batch: Batch, scratch: dict[str, Any]) -> dict[str, torch.Tensor]:
        assert self.discriminator is not None
        out = self.generate(batch["audio_mels"])
        scratch["generated"] = out
        fake = out["wave"].detach()
        real = batch["audio"][..., : fake.shape[-1]]
        real_scores, _ = self.discriminator(real)
        fake_scores, _ = self.discriminator(fake)
        loss = discriminator_loss(real_scores, fake_scores)
        return {"loss": loss, f"{self.options.discriminators}_loss": loss}

    def generator_step(self, batch: Batch, scratch: dict[str, Any]) -> dict[str, torch.Tensor]:
        out = scratch.get("generated") or self.generate(batch["audio_mels"])
        losses = self.spectral_losses(out, batch)
        total = self.weighted(losses)
        if "generated" in scratch and self.discriminator is not None:
            wave = out["wave"]
            real = batch["audio"][..., : wave.shape[-1]]
            with torch.no_grad():
                _, real_features = self.discriminator(real)
            with frozen(self.discriminator):
                fake_scores, fake_features = self.discriminator(wave)
            losses["adv_loss"] = adversarial_loss(fake_scores)
            losses["fm_loss"] = feature_matching_loss(real_features, fake_features)
            total = (
                total
                + self.options.adversarial_weight * losses["adv_loss"]
                + self.options.feature_loss_weight * losses["fm_loss"]
            )
        return {"loss": total, **losses}

    def validate(self, batch: Batch) -> dict[str, float]:
        """The generated waveform's log-mel L1 (``val_loss``) and the other spectral losses."""
        with torch.no_grad():
            losses = self.spectral_losses(self.generate(batch["audio_mels"]), batch)
        return {"val_loss": float(losses["mel_loss"]), **{k: float(v) for k, v in losses.items()}}

    def media(self, batch: Batch) -> dict[str, Any]:
        """The first clip, generated and real, with the mel it was made from."""
        with torch.no_grad():
            out = self.generate(batch["audio_mels"][:1])
        return {
            "audio/generated": out["wave"][0].float().cpu().numpy(),
            "audio/real": batch["audio"][0].float().cpu().numpy(),
            "mel/input": batch["audio_mels"][0].float().cpu().numpy(),
            "mel/magnitude_predicted": out["log_magnitude"][0].float().cpu().numpy(),
        }

    def export_module(self) -> nn.Module:
        """A copy of the network in eval mode, wrapped for the graph ``options.output`` asks."""
        copy = trained_copy(self.net, build_net(self.options, self.audio))
        if self.options.output == "spectrum":
            return IstftSpectrumExport(copy).eval()
        return IstftWaveExport(copy).eval()


PITCH_KEY = "audio_pitch"
"""The batch key of each segment's f0 per frame (Hz, 0 unvoiced): the voice dataset's, with its
``pitch`` option on."""


def _pitch_of(batch: Batch) -> torch.Tensor:
    if PITCH_KEY not in batch:
        raise ConfigError(
            [
                ConfigIssue(
                    "$.data.options.pitch",
                    "$.vocoder.options.harmonic_below_hz trains the predicted f0 against the "
                    "recording's: set $.data.options.pitch = true so that batches carry it",
                )
            ]
        )
    pitch: torch.Tensor = batch[PITCH_KEY]
    return pitch


def f0_loss(log_f0: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """L1 of ``log_f0`` ``(batch, frames)`` against the log of ``pitch`` (Hz, 0 unvoiced) over
    the voiced frames both have (0 when none is voiced)."""
    frames = min(log_f0.shape[-1], pitch.shape[-1])
    target, voiced = frame_log_f0(pitch[..., :frames].to(log_f0.dtype))
    error = torch.abs(log_f0[..., :frames] - target) * voiced
    return error.sum() / voiced.sum().clamp(min=1)


def graph_signature(options: IstftOptions, audio: AudioConfig) -> GraphSignature:
    """``mel`` to ``audio`` (inverse STFT in the graph) or to ``real`` and ``imag``."""
    if options.output == "spectrum":
        return spectrum_signature(audio.n_mels, audio.n_fft)
    return vocoder_signature(audio.n_mels)


def _check_audio(options: IstftOptions, audio: AudioConfig) -> None:
    issues = hop_multiple(options.segment_size, audio.hop_length, "$.vocoder.options.segment_size")
    if audio.n_fft % audio.hop_length:
        issues.append(
            ConfigIssue(
                "$.audio.n_fft",
                f"{audio.n_fft} is not a multiple of $.audio.hop_length ({audio.hop_length}): "
                "the istft vocoder's overlap-add needs whole hops per frame",
            )
        )
    if options.projections and options.output != "spectrum":
        issues.append(
            ConfigIssue(
                "$.vocoder.options.projections",
                f"{options.projections} Griffin-Lim projections run in the istft head, after "
                'the graph: set $.vocoder.options.output = "spectrum" (it is '
                f"{options.output!r}, whose graph ends in the inverse STFT)",
            )
        )
    issues += _check_decimation(options, audio)
    if issues:
        raise ConfigError(issues)


def head_options(options: IstftOptions) -> dict[str, Any]:
    """The istft head's options that the vocoder's options of the same names set."""
    return {name: getattr(options, name) for name in HEAD_FIELDS}


def _check_decimation(options: IstftOptions, audio: AudioConfig) -> list[ConfigIssue]:
    """Band-limited projections need a framing that decimates, and run at synthesis only."""
    if options.projection_decimation == 1:
        return []
    where = "$.vocoder.options"
    head = get_head("istft").bind(head_options(options), path=where)
    try:
        head.check(audio, path=where)
    except HeadError as exc:
        path, _, message = str(exc).partition(": ")
        return [ConfigIssue(path, message)]
    if options.projections_in_training:
        return [
            ConfigIssue(
                f"{where}.projection_decimation",
                f"{options.projection_decimation}: band-limited projections run in the istft "
                "head only; training runs them over the whole band (set it to 1, or "
                "$.vocoder.options.projections_in_training = false)",
            )
        ]
    return []


def build_recipe(options: IstftOptions | None, **inputs: Unpack[RecipeInputs]) -> Recipe:
    """The ``istft`` factory: module ``generator`` (+ ``mrd``), optimizer ``gen`` (+ ``disc``),
    steps ``discriminator`` (with ``mrd``, from ``adversarial_start_step``) then ``generator``.
    A vocoder reads only ``audio`` and ``training`` of the inputs."""
    audio, training = inputs["audio"], inputs["training"]
    options = options or IstftOptions()
    _check_audio(options, audio)
    run = IstftTraining(build_net(options, audio), audio, options)
    discriminators = (
        {} if run.discriminator is None else {options.discriminators: run.discriminator}
    )
    return gan_recipe(
        generator=run.net,
        discriminators=discriminators,
        generator_step=run.generator_step,
        discriminator_step=run.discriminator_step,
        options=options,
        training=training,
        validate=run.validate,
        signature=graph_signature(options, audio),
        head="istft" if options.output == "spectrum" else "waveform",
        head_options=(head_options(options) if options.output == "spectrum" else {}),
        export_module=run.export_module,
        media=run.media,
        batch_keys=BATCH_KEYS + ((PITCH_KEY,) if options.harmonic_below_hz > 0 else ()),
    )


__all__ = [
    "PITCH_KEY",
    "IstftTraining",
    "build_net",
    "build_recipe",
    "f0_loss",
    "graph_signature",
    "head_options",
]
