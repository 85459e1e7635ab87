"""Variance predictors (duration, pitch, energy) and the embedding of pitch and energy."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TemporalPredictor", "ValueEmbedding"]


class _ConvLayer(nn.Module):
    def __init__(self, *, in_dim: int, channels: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_dim, channels, kernel, padding=kernel // 2)
        self.norm = nn.LayerNorm(channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.conv((x * keep).transpose(1, 2))).transpose(1, 2)
        out: torch.Tensor = self.dropout(self.norm(hidden))
        return out


class TemporalPredictor(nn.Module):
    """One value per position: two (conv, ReLU, layer norm, dropout) layers and a projection.

    ``forward(x, mask)`` maps ``(batch, time, d_model)`` to ``(batch, time)``, zero at padding.
    """

    def __init__(self, *, d_model: int, channels: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [
                _ConvLayer(in_dim=d_model, channels=channels, kernel=kernel, dropout=dropout),
                _ConvLayer(in_dim=channels, channels=channels, kernel=kernel, dropout=dropout),
            ]
        )
        self.project = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask[..., None].to(x.dtype)
        for layer in self.layers:
            x = layer(x, keep)
        projected: torch.Tensor = self.project(x)
        return projected.squeeze(-1) * keep.squeeze(-1)


class ValueEmbedding(nn.Module):
    """A per-token scalar (normalized pitch or energy) to ``(batch, time, d_model)`` by a 1-D
    convolution over time, zero at padding."""

    def __init__(self, *, d_model: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, d_model, kernel, padding=kernel // 2)

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask.to(values.dtype)
        embedded: torch.Tensor = self.conv((values * keep)[:, None, :])
        return embedded.transpose(1, 2) * keep[..., None]
