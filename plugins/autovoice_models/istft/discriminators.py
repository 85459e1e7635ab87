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
from autovoice_models.hifigan.losses import STFT_RESOLUTIONS

CHANNELS = 16
"""Channels of every convolution: half of UnivNet's 32, and every layer strided along frequency
(UnivNet's first is not), which together cut its cost about tenfold (docs/istft.md)."""


class SpectrogramDiscriminator(nn.Module):
    """One resolution: ``(batch, samples)`` to a score map over (time, frequency)."""

    window: torch.Tensor

    def __init__(self, n_fft: int, hop: int, win: int, channels: int = CHANNELS) -> None:
        super().__init__()
        self.n_fft, self.hop, self.win = n_fft, hop, win
        self.register_buffer("window", torch.hann_window(win), persistent=False)
        layers = [
            nn.Conv2d(1 if n == 0 else channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))
            for n in range(4)
        ]
        layers.append(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1)))
        self.convs = nn.ModuleList(weight_norm(layer) for layer in layers)
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spectrum = torch.stft(
            wave, self.n_fft, self.hop, self.win, window=self.window, return_complex=True
        )
        magnitude = torch.sqrt(torch.clamp(torch.view_as_real(spectrum).pow(2).sum(-1), min=1e-7))
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


__all__ = ["MultiResolutionDiscriminator", "SpectrogramDiscriminator"]
