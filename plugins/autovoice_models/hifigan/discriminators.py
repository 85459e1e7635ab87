"""HiFi-GAN's discriminators: multi-period (periods 2, 3, 5, 7, 11) and multi-scale (3 scales).

Each sub-discriminator returns its score map and its intermediate feature maps (for the
feature-matching loss). They take waveforms ``(batch, samples)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from autovoice_models.hifigan.generator import LRELU_SLOPE, same_padding

PERIODS = (2, 3, 5, 7, 11)

Scores = list[torch.Tensor]
Features = list[list[torch.Tensor]]


def run_layers(
    layers: nn.ModuleList, post: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``layers`` each followed by a leaky ReLU, then ``post``: the flattened score and every
    layer's output (for feature matching). Shared by every discriminator of the built-ins."""
    features = []
    for layer in layers:
        x = F.leaky_relu(layer(x), LRELU_SLOPE)
        features.append(x)
    x = post(x)
    features.append(x)
    return torch.flatten(x, 1, -1), features


class PeriodDiscriminator(nn.Module):
    """Folds the waveform into ``(samples / period, period)`` and convolves along time."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3) -> None:
        super().__init__()
        self.period = period
        channels = (1, 32, 128, 512, 1024)
        pad = (same_padding(kernel_size), 0)
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(c_in, c_out, (kernel_size, 1), (stride, 1), padding=pad))
            for c_in, c_out in itertools.pairwise(channels)
        )
        self.convs.append(weight_norm(nn.Conv2d(1024, 1024, (kernel_size, 1), 1, padding=pad)))
        self.conv_post = weight_norm(nn.Conv2d(1024, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = wave.unsqueeze(1)
        remainder = x.shape[-1] % self.period
        if remainder:
            x = F.pad(x, (0, self.period - remainder), mode="reflect")
        x = x.view(x.shape[0], 1, x.shape[-1] // self.period, self.period)
        return run_layers(self.convs, self.conv_post, x)


class ScaleDiscriminator(nn.Module):
    """Strided, grouped 1-D convolutions over the waveform (or an average-pooled copy)."""

    def __init__(self, norm: str = "weight") -> None:
        super().__init__()
        wrap = spectral_norm if norm == "spectral" else weight_norm
        layers = [
            nn.Conv1d(1, 128, 15, 1, padding=7),
            nn.Conv1d(128, 128, 41, 2, groups=4, padding=20),
            nn.Conv1d(128, 256, 41, 2, groups=16, padding=20),
            nn.Conv1d(256, 512, 41, 4, groups=16, padding=20),
            nn.Conv1d(512, 1024, 41, 4, groups=16, padding=20),
            nn.Conv1d(1024, 1024, 41, 1, groups=16, padding=20),
            nn.Conv1d(1024, 1024, 5, 1, padding=2),
        ]
        self.convs = nn.ModuleList(wrap(layer) for layer in layers)
        self.conv_post = wrap(nn.Conv1d(1024, 1, 3, 1, padding=1))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return run_layers(self.convs, self.conv_post, wave.unsqueeze(1))


class _Ensemble(nn.Module):
    """Runs every sub-discriminator on the real and the generated waveform."""

    discriminators: nn.ModuleList

    def _inputs(self, wave: torch.Tensor) -> list[torch.Tensor]:
        return [wave] * len(self.discriminators)

    def score(self, wave: torch.Tensor) -> tuple[Scores, Features]:
        """Scores and feature maps of every sub-discriminator for one waveform batch."""
        scores, features = [], []
        for disc, x in zip(self.discriminators, self._inputs(wave), strict=True):
            s, f = disc(x)
            scores.append(s)
            features.append(f)
        return scores, features

    def forward(self, wave: torch.Tensor) -> tuple[Scores, Features]:
        return self.score(wave)


class MultiPeriodDiscriminator(_Ensemble):
    def __init__(self, periods: Sequence[int] = PERIODS) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p) for p in periods)


class MultiScaleDiscriminator(_Ensemble):
    """Three scales: raw audio (spectral norm), then twice average-pooled (weight norm)."""

    def __init__(self, scales: int = 3) -> None:
        super().__init__()
        norms = ["spectral"] + ["weight"] * (scales - 1)
        self.discriminators = nn.ModuleList(ScaleDiscriminator(n) for n in norms)
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def _inputs(self, wave: torch.Tensor) -> list[torch.Tensor]:
        inputs = [wave]
        for _ in range(len(self.discriminators) - 1):
            inputs.append(self.pool(inputs[-1].unsqueeze(1)).squeeze(1))
        return inputs


__all__ = [
    "PERIODS",
    "MultiPeriodDiscriminator",
    "MultiScaleDiscriminator",
    "PeriodDiscriminator",
    "ScaleDiscriminator",
    "run_layers",
]
