"""VoiceTransformer: tokens and a speaker id to a log-mel spectrogram, FastPitch style.

A transformer encoder reads the tokens; a speaker embedding is added to its output; duration,
pitch and energy predictors read the result; pitch and energy are embedded and added back; a
length regulator repeats each token over its frames; a transformer decoder turns those into the
mel. Durations are learned by the built-in aligner (:mod:`.alignment`), so no external aligner
or duration files are needed. Every step works on padded batches with masks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from autovoice_models.voice_transformer.alignment import (
    Aligner,
    beta_binomial_log_prior,
    binarization_loss,
    forward_sum_loss,
    monotonic_alignment_search,
)
from autovoice_models.voice_transformer.layers import (
    FFTStack,
    PostNet,
    StackSizes,
    lengths_to_mask,
    sized_stack,
    start_new_blocks_as_identity,
)
from autovoice_models.voice_transformer.predictors import (
    FramePitch,
    TemporalPredictor,
    ValueEmbedding,
)
from autovoice_models.voice_transformer.regulator import frame_ends, frame_positions, regulate
from autovoice_models.voice_transformer.targets import (
    RunningNorm,
    frame_energy,
    frame_log_f0,
    token_average,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["TrainingOutputs", "VoiceTransformer", "VoiceTransformerExport", "scale_variance"]

BATCH_KEYS = ("tokens", "token_lengths", "mels", "mel_lengths", "speakers", "pitch")


class TrainingOutputs(NamedTuple):
    """Everything one teacher-forced pass computes: the losses and what the images show."""

    losses: dict[str, torch.Tensor]
    mel: torch.Tensor
    """Predicted mel ``(batch, n_mels, frames)``."""
    log_probs: torch.Tensor
    """Aligner log-probabilities ``(batch, frames, tokens)``."""
    hard: torch.Tensor
    """Hard alignment ``(batch, frames, tokens)`` from monotonic alignment search."""


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weight = mask.to(values.dtype)
    while weight.dim() < values.dim():
        weight = weight.unsqueeze(1)
    weight = weight.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp(min=1)


def _longest(lengths: torch.Tensor) -> torch.Tensor:
    """The largest length, by TopK: the dynamo exporter's ReduceMax does not convert to opset 17."""
    return torch.topk(lengths, 1).values[0]


def scale_variance(mel: torch.Tensor, frame_mask: torch.Tensor, scale: float) -> torch.Tensor:
    """``mel`` ``(batch, n_mels, frames)`` with each band's deviation from its mean over the
    item's frames (``frame_mask``) multiplied by ``scale``, padding as it was: a global-variance
    post-filter, which gives over-smoothed mels back the variance they lack (``scale`` above 1)
    and keeps each band's mean level."""
    keep = frame_mask[:, None, :]
    weights = keep.to(mel.dtype)
    mean = (mel * weights).sum(-1, keepdim=True) / weights.sum(-1, keepdim=True).clamp(min=1)
    return torch.where(keep, mean + scale * (mel - mean), mel)


class VoiceTransformer(nn.Module):
    """The acoustic model; see the module docstring. All arguments are flat keywords."""

    steps: torch.Tensor

    def __init__(
        self,
        *,
        n_symbols: int,
        n_speakers: int,
        n_mels: int,
        predictor_channels: int,
        predictor_kernel: int,
        aligner_dim: int,
        dropout: float,
        max_duration: int = 75,
        variance_scale: float = 1.0,
        prior_scaling: float = 1.0,
        bin_loss_start_step: int = 1000,
        bin_loss_warmup_steps: int = 500,
        stats_batches: int = 200,
        duration_weight: float = 0.1,
        pitch_weight: float = 0.1,
        energy_weight: float = 0.1,
        align_weight: float = 1.0,
        bin_weight: float = 1.0,
        aligner_temperature: float = 0.05,
        mel_pad_value: float = 0.0,
        postnet_layers: int = 0,
        postnet_channels: int = 256,
        postnet_kernel: int = 5,
        frame_pitch_block: int = 0,
        frame_pitch_weight: float = 0.1,
        **sizes: Unpack[StackSizes],
    ) -> None:
        super().__init__()
        d_model = sizes["d_model"]
        predictor = {"d_model": d_model, "channels": predictor_channels, "kernel": predictor_kernel}
        self.n_mels = n_mels
        self.max_duration = max_duration
        self.variance_scale = variance_scale
        self.prior_scaling = prior_scaling
        self.mel_pad_value = mel_pad_value
        self.bin_schedule = (bin_loss_start_step, bin_loss_warmup_steps)
        self.weights = {
            "duration_loss": duration_weight,
            "pitch_loss": pitch_weight,
            "energy_loss": energy_weight,
            "forward_sum_loss": align_weight,
        }
        if frame_pitch_block:
            self.weights |= {
                "frame_pitch_loss": frame_pitch_weight,
                "frame_voicing_loss": frame_pitch_weight,
            }
        self.bin_weight = bin_weight
        self.embedding = nn.Embedding(n_symbols, d_model, padding_idx=0)
        self.speaker_embedding = nn.Embedding(n_speakers, d_model)
        self.encoder = sized_stack(FFTStack, sizes, "encoder", dropout)
        self.duration_predictor = TemporalPredictor(dropout=dropout, **predictor)
        self.pitch_predictor = TemporalPredictor(dropout=dropout, **predictor)
        self.energy_predictor = TemporalPredictor(dropout=dropout, **predictor)
        self.pitch_embedding = ValueEmbedding(d_model=d_model)
        self.energy_embedding = ValueEmbedding(d_model=d_model)
        self.decoder = sized_stack(FFTStack, sizes, "decoder", dropout)
        self.mel_projection = nn.Linear(d_model, n_mels)
        self.postnet = (
            PostNet(n_mels=n_mels, channels=postnet_channels, kernel=postnet_kernel,
                    layers=postnet_layers, dropout=dropout)
            if postnet_layers else None
        )  # fmt: skip
        if not 0 <= frame_pitch_block <= sizes["decoder_layers"]:
            raise ValueError(
                f"frame_pitch_block must be 0 to decoder_layers ({sizes['decoder_layers']}), "
                f"got {frame_pitch_block}"
            )
        self.frame_pitch_block = frame_pitch_block
        self.frame_pitch = (
            FramePitch(d_model=d_model, channels=predictor_channels, kernel=predictor_kernel,
                       dropout=dropout)
            if frame_pitch_block else None
        )  # fmt: skip
        self.aligner = Aligner(
            text_dim=d_model, n_mels=n_mels, dim=aligner_dim, temperature=aligner_temperature
        )
        self.pitch_norm = RunningNorm(
            batches=stats_batches, init_mean=math.log(150.0), init_std=0.3
        )
        self.energy_norm = RunningNorm(batches=stats_batches, init_mean=-3.0, init_std=1.0)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    # -- shared by training and inference ---------------------------------------------------

    def _encode(
        self, tokens: torch.Tensor, speakers: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(token embeddings, encoder output + speaker embedding)``, both zero at padding."""
        keep = mask[..., None].to(torch.float32)
        embedded = self.embedding(tokens) * keep
        encoded = self.encoder(embedded, mask) + self.speaker_embedding(speakers)[:, None, :]
        return embedded, encoded * keep

    def _add_variance(
        self, encoded: torch.Tensor, pitch: torch.Tensor, energy: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        pitch_part: torch.Tensor = self.pitch_embedding(pitch, mask)
        energy_part: torch.Tensor = self.energy_embedding(energy, mask)
        return encoded + pitch_part + energy_part

    def after_init(self, missing: Sequence[str]) -> None:
        """After ``--init`` from a model with fewer encoder or decoder blocks: the blocks it
        lacked start as the identity, so the grown model continues from what it computed (a
        post-net it lacked starts so already)."""
        start_new_blocks_as_identity(self, missing)

    def _decode(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """Regulated frames ``(batch, frames, d_model)`` to the mel of inference ``(batch,
        n_mels, frames)``: with ``variance_scale`` other than 1, each band's deviation from its
        mean over the item's frames scaled by it (:func:`scale_variance`)."""
        mel = self._decode_both(frames, frame_mask)[0]
        if self.variance_scale == 1.0:  # teacher forcing, and so finetune-vocoder, never scales
            return mel
        return scale_variance(mel, frame_mask, self.variance_scale)

    def _decode_both(
        self,
        frames: torch.Tensor,
        frame_mask: torch.Tensor,
        teacher: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """The mel, the decoder's own before the post-net refines it (the same tensor without
        a post-net), ``mel_pad_value`` at padding; and with frame pitch, its prediction
        ``(log-f0, voicing logit)``. With frame pitch, ``frames`` end with the token pitch as
        one more channel, and the decoder's later blocks read ``teacher`` (a frame contour and
        its voicing) when given, else the prediction."""
        guess: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.frame_pitch is None:
            hidden = self.decoder(frames, frame_mask)
        else:
            frame_pitch, token_pitch, frames = self.frame_pitch, frames[..., -1], frames[..., :-1]

            def after_block(index: int, x: torch.Tensor) -> torch.Tensor:
                nonlocal guess
                if index != self.frame_pitch_block - 1:
                    return x
                guess = frame_pitch.predict(x, token_pitch, frame_mask)
                pitch, voiced = teacher if teacher is not None else (guess[0], guess[1] > 0)
                return x + frame_pitch.embed(pitch, voiced, frame_mask)

            hidden = self.decoder(frames, frame_mask, after_block)
        coarse = self.mel_projection(hidden).transpose(1, 2)
        fine = coarse if self.postnet is None else self.postnet(coarse, frame_mask)
        pad = torch.full_like(coarse, self.mel_pad_value)
        keep = frame_mask[:, None, :]
        return torch.where(keep, fine, pad), torch.where(keep, coarse, pad), guess

    def _with_token_pitch(self, features: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
        """With frame pitch, the token features carry the token pitch (normalized log-f0, any
        pitch shift included) as one more channel, so that regulating them gives the decoder
        each frame's."""
        if self.frame_pitch is None:
            return features
        return torch.cat([features, pitch[..., None].to(features.dtype)], dim=-1)

    # -- inference -------------------------------------------------------------------------

    def infer(
        self,
        tokens: torch.Tensor,
        token_lengths: torch.Tensor,
        speakers: torch.Tensor,
        pace: torch.Tensor,
        pitch_shift: torch.Tensor | None = None,
        energy_scale: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Synthesize a padded batch: ``(mel (batch, n_mels, frames), mel_lengths (batch,),
        durations (batch, tokens))``, durations in whole frames per token after pace (they sum
        to the item's length; 0 past its tokens).

        ``pace`` above 1 speaks faster (durations are divided by it; values are clamped to at
        least 0.01). ``pitch_shift`` (semitones, default 0) and ``energy_scale`` (a factor,
        default 1) move the predicted pitch and energy, see :meth:`plan`. Frames past an
        item's length hold ``mel_pad_value``; every item gets at least one frame.
        """
        features, positions = self.plan(
            tokens, token_lengths, speakers, pace, pitch_shift, energy_scale
        )
        return self.render(features, frame_ends(positions))

    def plan(
        self,
        tokens: torch.Tensor,
        token_lengths: torch.Tensor,
        speakers: torch.Tensor,
        pace: torch.Tensor,
        pitch_shift: torch.Tensor | None = None,
        energy_scale: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The continuous half of :meth:`infer`: token features with pitch and energy added,
        and the unrounded frame position where each token ends, ``(batch, tokens)``.

        The pitch predictor gives log-f0 normalized by the training statistics, so a shift of
        ``s`` semitones, ``s / 12`` octaves, adds ``s * ln(2) / 12`` to log-f0, that over the
        statistics' standard deviation to the prediction (with frame pitch, the frame contour
        is predicted from the shifted token pitch). Energy is the normalized log of the
        mean mel magnitude; a factor ``k`` adds ``ln(k)`` over its standard deviation. The
        defaults add exactly 0."""
        mask = lengths_to_mask(token_lengths, tokens.shape[1])
        _, encoded = self._encode(tokens, speakers, mask)
        log_durations = self.duration_predictor(encoded, mask)
        durations = torch.clamp(torch.exp(log_durations) - 1, min=0, max=self.max_duration)
        pitch = self.pitch_predictor(encoded, mask)
        energy = self.energy_predictor(encoded, mask)
        if pitch_shift is not None:
            octaves = pitch_shift.float()[:, None] * (math.log(2.0) / 12.0)
            pitch = pitch + octaves / self.pitch_norm.std
        if energy_scale is not None:
            energy = energy + torch.log(energy_scale.float()[:, None]) / self.energy_norm.std
        features = self._with_token_pitch(self._add_variance(encoded, pitch, energy, mask), pitch)
        positions = frame_positions(durations * mask.to(durations.dtype), pace.clamp(min=0.01))
        return features, positions

    def render(
        self, features: torch.Tensor, ends: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The discrete half: regulate ``features`` over integer token ``ends`` and decode;
        the mel, its lengths and the frames of each token."""
        ends = ends + (ends[:, -1:] == 0).to(ends.dtype)
        lengths = ends[:, -1]
        frames, frame_mask = regulate(features, ends, _longest(lengths))
        durations = ends - torch.cat([torch.zeros_like(ends[:, :1]), ends[:, :-1]], dim=1)
        return self._decode(frames, frame_mask), lengths, durations

    # -- training --------------------------------------------------------------------------

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Same as :meth:`forward_for_training`, so wrappers such as DDP see the training pass."""
        return self.forward_for_training(batch)

    def forward_for_training(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The losses of one batch: ``loss`` (the total minimized) and its weighted parts."""
        return self.run_teacher_forced(batch).losses

    def run_teacher_forced(self, batch: Mapping[str, torch.Tensor]) -> TrainingOutputs:
        """Align, predict and decode with the aligner's durations and the true pitch/energy.

        Reads ``tokens``, ``token_lengths``, ``mels`` (log-mel), ``mel_lengths``, ``speakers``
        and ``pitch`` (Hz per frame, 0 where unvoiced). In training mode it also counts the
        batch (for the binarization schedule) and feeds the normalization statistics.
        """
        tokens, mels = batch["tokens"], batch["mels"].float()
        token_mask = lengths_to_mask(batch["token_lengths"], tokens.shape[1])
        frame_mask = lengths_to_mask(batch["mel_lengths"], mels.shape[2])
        embedded, encoded = self._encode(tokens, batch["speakers"], token_mask)
        log_probs, hard = self._align(batch, embedded, mels, token_mask, frame_mask)
        durations = hard.sum(1)
        pitch, energy, contour = self._variance_targets(batch, mels, hard, frame_mask)
        features = self._add_variance(encoded, pitch, energy, token_mask)
        ends = torch.cumsum(durations, dim=1).to(torch.int64)
        frames, _ = regulate(self._with_token_pitch(features, pitch), ends, mels.shape[2])
        mel, coarse, guess = self._decode_both(frames, frame_mask, contour)
        losses = {
            "mel_loss": _masked_mean((mel.float() - mels).abs(), frame_mask),
            "duration_loss": self._predictor_loss(
                self.duration_predictor, encoded, torch.log1p(durations), token_mask
            ),
            "pitch_loss": self._predictor_loss(self.pitch_predictor, encoded, pitch, token_mask),
            "energy_loss": self._predictor_loss(self.energy_predictor, encoded, energy, token_mask),
            "forward_sum_loss": forward_sum_loss(
                log_probs, batch["token_lengths"], batch["mel_lengths"]
            ),
            "bin_loss": binarization_loss(hard, log_probs),
        }
        if guess is not None:  # frame pitch: the contour where voiced, and the voicing
            target, voiced = contour
            losses["frame_pitch_loss"] = _masked_mean((guess[0].float() - target).pow(2), voiced)
            losses["frame_voicing_loss"] = _masked_mean(
                nn.functional.binary_cross_entropy_with_logits(
                    guess[1].float(), voiced.float(), reduction="none"
                ),
                frame_mask,
            )
        if self.postnet is not None:  # the decoder learns the mel too, as Tacotron 2's does
            losses["decoder_mel_loss"] = _masked_mean((coarse.float() - mels).abs(), frame_mask)
        losses["loss"] = self._total(losses)
        if self.training:
            self.steps += 1
        return TrainingOutputs(losses=losses, mel=mel, log_probs=log_probs, hard=hard)

    def _align(
        self,
        batch: Mapping[str, torch.Tensor],
        embedded: torch.Tensor,
        mels: torch.Tensor,
        token_mask: torch.Tensor,
        frame_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Aligner log-probabilities and the hard alignment found by MAS (on the CPU)."""
        token_lengths, mel_lengths = batch["token_lengths"], batch["mel_lengths"]
        log_prior = beta_binomial_log_prior(
            token_lengths,
            mel_lengths,
            token_mask.shape[1],
            frame_mask.shape[1],
            self.prior_scaling,
        )
        log_probs = self.aligner(embedded, mels, token_mask, frame_mask, log_prior)
        hard = monotonic_alignment_search(
            log_probs.detach().float().cpu().numpy(),
            token_lengths.cpu().numpy(),
            mel_lengths.cpu().numpy(),
        )
        return log_probs, torch.from_numpy(hard).to(log_probs.device)

    def _variance_targets(
        self,
        batch: Mapping[str, torch.Tensor],
        mels: torch.Tensor,
        hard: torch.Tensor,
        frame_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Normalized per-token pitch and energy targets, and the normalized frame contour
        (0 where unvoiced) with its voicing ``(batch, frames)``."""
        log_f0, voiced = frame_log_f0(batch["pitch"].float())
        voiced = voiced & frame_mask
        energy = frame_energy(mels)
        self.pitch_norm.update(log_f0, voiced)
        self.energy_norm.update(energy, frame_mask)
        contour = torch.where(voiced, self.pitch_norm.normalize(log_f0), torch.zeros_like(log_f0))
        pitch = token_average(hard, contour, voiced)
        energy = token_average(hard, self.energy_norm.normalize(energy), frame_mask)
        return pitch, energy, (contour, voiced)

    @staticmethod
    def _predictor_loss(
        predictor: nn.Module, encoded: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        prediction = predictor(encoded, mask).float()
        return _masked_mean((prediction - target).pow(2), mask)

    def bin_loss_scale(self) -> torch.Tensor:
        """The binarization loss weight at the current step: 0 before the start step, then a
        linear ramp to ``bin_weight`` over the warm-up steps."""
        start, warmup = self.bin_schedule
        progress = (self.steps - start + 1).to(torch.float32) / max(warmup, 1)
        return self.bin_weight * progress.clamp(min=0, max=1)

    def _total(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        total = losses["mel_loss"] + self.bin_loss_scale() * losses["bin_loss"]
        if "decoder_mel_loss" in losses:
            total = total + losses["decoder_mel_loss"]
        for name, weight in self.weights.items():
            total = total + weight * losses[name]
        return total


class VoiceTransformerExport(nn.Module):
    """The exported graph: ``forward(tokens, token_lengths, speakers, pace, pitch_shift,
    energy_scale) -> (mel, mel_lengths, durations)``, the acoustic signature.

    :attr:`output_names` names the outputs, so that a voice whose signature lists fewer (one
    exported before durations) still loads these weights; its controls default to none."""

    output_names = ("mel", "mel_lengths", "durations")

    def __init__(self, model: VoiceTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        tokens: torch.Tensor,
        token_lengths: torch.Tensor,
        speakers: torch.Tensor,
        pace: torch.Tensor,
        pitch_shift: torch.Tensor | None = None,
        energy_scale: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.model.infer(tokens, token_lengths, speakers, pace, pitch_shift, energy_scale)

    # The graph rounds each token's end frame; export validation holds a rounding that floats
    # may take either way (a position at .5) to both sides (autovoice.export.RoundedValues).

    def rounded_values(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The frame positions that the graph rounds, NaN past each item's tokens."""
        _, positions = self.model.plan(*inputs)
        mask = lengths_to_mask(inputs[1], inputs[0].shape[1])
        return torch.where(mask, positions, torch.full_like(positions, math.nan))

    def forward_rounded(
        self, *inputs: torch.Tensor, rounded: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`forward` with ``rounded`` (int64, read where :meth:`rounded_values` is not
        NaN) as the token ends; padded tokens end where the last real one does."""
        features, _ = self.model.plan(*inputs)
        mask = lengths_to_mask(inputs[1], inputs[0].shape[1])
        ends = torch.cummax(torch.where(mask, rounded, torch.zeros_like(rounded)), dim=1).values
        return self.model.render(features, ends)
