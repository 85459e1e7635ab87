"""HiFi-GAN losses: least-squares GAN, feature matching, and the multi-resolution STFT loss.

The mel L1 loss is plain ``F.l1_loss`` on :class:`autovoice.training.features.LogMel` outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from autovoice_models.hifigan.discriminators import Features, Scores


def discriminator_loss(real: Scores, fake: Scores) -> torch.Tensor:
    """LSGAN: push scores of real audio to 1 and of generated audio to 0."""
    total = real[0].new_zeros(())
    for r, g in zip(real, fake, strict=True):
        total = total + torch.mean((1 - r) ** 2) + torch.mean(g**2)
    return total


def adversarial_loss(fake: Scores) -> torch.Tensor:
    """LSGAN, generator side: push scores of generated audio to 1."""
    total = fake[0].new_zeros(())
    for g in fake:
        total = total + torch.mean((1 - g) ** 2)
    return total


def feature_matching_loss(real: Features, fake: Features) -> torch.Tensor:
    """Sum over every discriminator layer of the mean L1 distance of its feature maps."""
    total = fake[0][0].new_zeros(())
    for real_maps, fake_maps in zip(real, fake, strict=True):
        for r, g in zip(real_maps, fake_maps, strict=True):
            total = total + torch.mean(torch.abs(r.detach() - g))
    return total


MAGNITUDE_FLOOR = 1e-7**0.5
"""Magnitudes of the STFT loss are clamped here before the log."""
STFT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
"""(FFT size, hop, window) of the multi-resolution STFT loss, as in Parallel WaveGAN."""


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence plus log-magnitude L1, averaged over several STFT resolutions."""

    def __init__(self, resolutions: Sequence[tuple[int, int, int]] = STFT_RESOLUTIONS) -> None:
        super().__init__()
        self.resolutions = tuple(resolutions)
        for i, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window{i}", torch.hann_window(win), persistent=False)

    def _magnitude(self, wave: torch.Tensor, i: int) -> torch.Tensor:
        n_fft, hop, win = self.resolutions[i]
        window = getattr(self, f"window{i}")
        spec = torch.stft(wave, n_fft, hop, win, window=window, return_complex=True)
        # |z| clamped at sqrt(1e-7): the same as sqrt(max(re² + im², 1e-7)), and with its
        # backward about half the time of squaring the real view's two parts (measured on a CPU)
        return torch.clamp(spec.abs(), min=MAGNITUDE_FLOOR)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        total = fake.new_zeros(())
        for i in range(len(self.resolutions)):
            g, r = self._magnitude(fake, i), self._magnitude(real, i)
            convergence = torch.linalg.norm(r - g) / torch.linalg.norm(r).clamp(min=1e-7)
            total = total + convergence + F.l1_loss(torch.log(g), torch.log(r))
        return total / len(self.resolutions)


__all__ = [
    "STFT_RESOLUTIONS",
    "MultiResolutionSTFTLoss",
    "adversarial_loss",
    "discriminator_loss",
    "feature_matching_loss",
]
