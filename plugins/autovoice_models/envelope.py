"""The spectral envelope a log-mel gives on the linear STFT bins, shared by the vocoders that
predict a magnitude (``istft``, ``magnitude_gl``) as the start their networks add detail to."""

from __future__ import annotations

import torch
from torch import nn

from autovoice.audio.features import mel_filterbank
from autovoice.config.schema import AudioConfig

__all__ = ["MelEnvelope"]


class MelEnvelope(nn.Module):
    """A log-mel's spectral envelope on the linear bins, as a log-magnitude: each band's energy
    over its filter's area, spread back with the filters' triangle weights (bins no band covers
    sit at ``floor``). Smooth and positive, where the filterbank's pseudo-inverse has holes."""

    bank: torch.Tensor
    area: torch.Tensor
    cover: torch.Tensor

    def __init__(self, audio: AudioConfig, *, floor: float) -> None:
        super().__init__()
        bank = torch.tensor(
            mel_filterbank(audio.sample_rate, audio.n_fft, audio.n_mels, audio.f_min, audio.f_max)
        )
        bank = bank.to(torch.float32)  # (n_mels, bins)
        self.register_buffer("bank", bank.T.contiguous(), persistent=False)  # (bins, n_mels)
        self.register_buffer("area", bank.sum(1, keepdim=True).clamp(min=1e-12), persistent=False)
        self.register_buffer("cover", bank.sum(0).clamp(min=1e-12)[:, None], persistent=False)
        self.floor = float(floor)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` log-mel to ``(batch, bins, frames)`` log-magnitude."""
        levels = torch.exp(log_mel) / self.area
        linear = torch.matmul(self.bank, levels) / self.cover
        return torch.log(torch.clamp(linear, min=self.floor))
