"""MagnitudeNet: log-mel to linear STFT magnitude.

The network starts from the spectral envelope the mel gives, in the log domain, and adds what a
stack of residual dilated convolutions over frames predicts: the harmonic detail the mel bands
average away. The envelope reads each band's energy as a level (the band's energy over its
filter's area) and gives every linear bin the triangle-weighted average of the levels of the bands
that cover it: smooth and positive, where the filterbank's pseudo-inverse has holes the network
would first have to fill. Its last layer starts at zero, so an untrained network is exactly that
envelope, clamped at the magnitude floor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autovoice.config.schema import AudioConfig
from autovoice_models.envelope import MelEnvelope


class ResidualBlock(nn.Module):
    """``x + pointwise(gelu(dilated_conv(gelu(x))))`` over frames, length-preserving."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            channels,
            channels,
            kernel_size,
            padding=dilation * (kernel_size // 2),
            dilation=dilation,
        )
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.mix(F.gelu(self.conv(F.gelu(x))))
        return out


class MagnitudeNet(nn.Module):
    """``(batch, n_mels, frames)`` log-mel to ``(batch, n_fft // 2 + 1, frames)`` log-magnitude
    (:meth:`forward`) or linear magnitude (:meth:`magnitude`); :attr:`envelope` is where an
    untrained network starts."""

    def __init__(
        self,
        audio: AudioConfig,
        *,
        channels: int = 192,
        dilations: tuple[int, ...] = (1, 2, 4, 1, 2, 4),
        kernel_size: int = 5,
        floor: float = 1e-5,
    ) -> None:
        super().__init__()
        self.envelope = MelEnvelope(audio, floor=floor)
        self.bins = audio.n_fft // 2 + 1
        self.inp = nn.Conv1d(audio.n_mels, channels, kernel_size, padding=kernel_size // 2)
        self.blocks = nn.Sequential(*(ResidualBlock(channels, kernel_size, d) for d in dilations))
        self.out = nn.Conv1d(channels, self.bins, 1)
        nn.init.zeros_(self.out.weight)
        if self.out.bias is not None:
            nn.init.zeros_(self.out.bias)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        detail: torch.Tensor = self.out(F.gelu(self.blocks(self.inp(log_mel))))
        start: torch.Tensor = self.envelope(log_mel)
        return start + detail

    def magnitude(self, log_mel: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.forward(log_mel))


class MagnitudeExport(nn.Module):
    """The exported graph: ``mel`` to linear ``magnitude`` (the magnitude signature)."""

    def __init__(self, net: MagnitudeNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net.magnitude(mel)
        return out


__all__ = ["MagnitudeExport", "MagnitudeNet", "ResidualBlock"]
