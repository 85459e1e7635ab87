"""A multi-resolution spectrogram discriminator (as in UnivNet): 2-D convolutions over the
log-magnitude of the waveform at several STFT resolutions. It costs a fraction of HiFi-GAN's
waveform discriminators, which is what makes adversarial training affordable on a CPU.

Returns scores and feature maps in the shape of :mod:`autovoice_models.hifigan.discriminators`,
so the same least-squares and feature-matching losses apply.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from autovoice_models.hifigan.discriminators import Features, Scores, run_layers
from autovoice_models.hifigan.losses import MAGNITUDE_FLOOR, STFT_RESOLUTIONS

CHANNELS = 16
"""Channels of every convolution: half of UnivNet's 32, and every layer strided along frequency
(UnivNet's first is not), which together cut its cost about tenfold (docs/istft.md)."""


def conv_stack(inputs: int, channels: int) -> tuple[nn.ModuleList, nn.Module]:
    """Four ``(3, 9)`` convolutions strided by 2 along frequency, one ``(3, 3)``, and a
    ``(3, 3)`` one to a score map, all weight-normed: over ``(batch, inputs, frames, bins)``."""
    layers = [
        nn.Conv2d(inputs if n == 0 else channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))
        for n in range(4)
    ]
    layers.append(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1)))
    convs = nn.ModuleList(weight_norm(layer) for layer in layers)
    return convs, weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))


class SpectrogramDiscriminator(nn.Module):
    """One resolution: ``(batch, samples)`` to a score map over (time, frequency)."""

    window: torch.Tensor

    def __init__(self, n_fft: int, hop: int, win: int, channels: int = CHANNELS) -> None:
        super().__init__()
        self.n_fft, self.hop, self.win = n_fft, hop, win
        self.register_buffer("window", torch.hann_window(win), persistent=False)
        self.convs, self.conv_post = conv_stack(1, channels)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spectrum = torch.stft(
            wave, self.n_fft, self.hop, self.win, window=self.window, return_complex=True
        )
        magnitude = torch.clamp(spectrum.abs(), min=MAGNITUDE_FLOOR)
        x = torch.log(magnitude).transpose(1, 2).unsqueeze(1)  # (batch, 1, frames, bins)
        return run_layers(self.convs, self.conv_post, x)


class MultiResolutionDiscriminator(nn.Module):
    """One :class:`SpectrogramDiscriminator` per ``(n_fft, hop, win)`` resolution."""

    def __init__(self, resolutions: Sequence[tuple[int, int, int]] = STFT_RESOLUTIONS) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            SpectrogramDiscriminator(*resolution) for resolution in resolutions
        )

    def forward(self, wave: torch.Tensor) -> tuple[Scores, Features]:
        scores, features = [], []
        for disc in self.discriminators:
            s, f = disc(wave)
            scores.append(s)
            features.append(f)
        return scores, features


PHASE_BELOW_HZ = 4000.0
"""The phase discriminator sees the bins below this, where a harmonic's phase is heard."""


class PhaseDiscriminator(nn.Module):
    """2-D convolutions over the phase structure of the STFT at the vocoder's own framing:
    the log-magnitude and, as unit phasors (real and imaginary parts), the phase's advance from
    the frame before less the bin's centre-frequency advance (instantaneous frequency) and its
    step from the bin below (group delay), for the bins below :data:`PHASE_BELOW_HZ`. The phase
    losses judge each bin alone; this judges whether the pattern is one speech has.

    Each phasor is a product of two spectra over the product of their magnitudes plus a floor
    (relative to the loudest bin), so near-silent bins, whose phase is noise, fade to zero."""

    window: torch.Tensor
    advance: torch.Tensor

    def __init__(
        self, *, sample_rate: int, n_fft: int, hop_length: int, channels: int = CHANNELS
    ) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop_length
        self.bins = min(n_fft // 2 + 1, int(PHASE_BELOW_HZ * n_fft / sample_rate) + 1)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        k = torch.arange(self.bins, dtype=torch.float32)
        advance = torch.polar(torch.ones(self.bins), -2 * torch.pi * k * hop_length / n_fft)
        self.register_buffer("advance", advance[:, None], persistent=False)
        self.convs, self.conv_post = conv_stack(5, channels)

    def maps(self, wave: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` to ``(batch, 5, frames - 1, bins - 1)``."""
        spectrum = torch.stft(
            wave, self.n_fft, self.hop, self.n_fft, window=self.window, return_complex=True
        )[:, : self.bins]
        magnitude = spectrum.abs()
        floor = 1e-3 * magnitude.amax(dim=(1, 2), keepdim=True).detach() + 1e-7
        along_time = spectrum[..., 1:] * spectrum[..., :-1].conj() * self.advance
        along_time = along_time / (magnitude[..., 1:] * magnitude[..., :-1] + floor**2)
        along_bins = spectrum[:, 1:] * spectrum[:, :-1].conj()
        along_bins = along_bins / (magnitude[:, 1:] * magnitude[:, :-1] + floor**2)
        level = torch.log(torch.clamp(magnitude, min=MAGNITUDE_FLOOR))
        stacked = torch.stack(
            [
                level[:, 1:, 1:],
                along_time.real[:, 1:],
                along_time.imag[:, 1:],
                along_bins.real[..., 1:],
                along_bins.imag[..., 1:],
            ],
            dim=1,
        )
        return stacked.transpose(2, 3)  # (batch, 5, frames, bins)

    def forward(self, wave: torch.Tensor) -> tuple[Scores, Features]:
        score, features = run_layers(self.convs, self.conv_post, self.maps(wave))
        return [score], [features]


__all__ = ["MultiResolutionDiscriminator", "PhaseDiscriminator", "SpectrogramDiscriminator"]
