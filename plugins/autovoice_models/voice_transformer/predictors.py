"""Variance predictors (duration, pitch, energy) and the embedding of pitch and energy."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FramePitch", "TemporalPredictor", "ValueEmbedding"]


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


def _two_layers(*, d_model: int, channels: int, kernel: int, dropout: float) -> nn.ModuleList:
    return nn.ModuleList(
        [
            _ConvLayer(in_dim=d_model, channels=channels, kernel=kernel, dropout=dropout),
            _ConvLayer(in_dim=channels, channels=channels, kernel=kernel, dropout=dropout),
        ]
    )


class TemporalPredictor(nn.Module):
    """One value per position: two (conv, ReLU, layer norm, dropout) layers and a projection.

    ``forward(x, mask)`` maps ``(batch, time, d_model)`` to ``(batch, time)``, zero at padding.
    """

    def __init__(self, *, d_model: int, channels: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.layers = _two_layers(
            d_model=d_model, channels=channels, kernel=kernel, dropout=dropout
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


class FramePitch(nn.Module):
    """Pitch at frame rate, read from the decoder's hidden frames after one of its blocks.

    :meth:`predict` maps hidden frames ``(batch, frames, d_model)`` and the token pitch repeated
    over them ``(batch, frames)`` (normalized log-f0) to each frame's normalized log-f0, the token
    pitch plus a residual, and a voicing logit (above 0: voiced). :meth:`embed` turns a frame
    contour and its voicing into what is added to the hidden frames: the teacher's in training,
    the prediction at inference. The embedding's convolution starts at zero, so a decoder given
    this module by ``--init`` computes what it did before. Zero at padding."""

    def __init__(self, *, d_model: int, channels: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.layers = _two_layers(
            d_model=d_model, channels=channels, kernel=kernel, dropout=dropout
        )
        self.project = nn.Linear(channels, 2)
        self.embedding = nn.Conv1d(2, d_model, 3, padding=1, bias=False)
        nn.init.zeros_(self.embedding.weight)

    def predict(
        self, hidden: torch.Tensor, token_pitch: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log-f0, voicing logit)``, each ``(batch, frames)``, zero at padding."""
        keep = mask[..., None].to(hidden.dtype)
        x = hidden
        for layer in self.layers:
            x = layer(x, keep)
        projected = self.project(x) * keep
        return token_pitch + projected[..., 0], projected[..., 1]

    def embed(self, pitch: torch.Tensor, voiced: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, d_model)`` from a frame contour and its voicing (bool)."""
        on = (voiced & mask).to(pitch.dtype)
        values = torch.stack([pitch * on, on], dim=1)
        embedded: torch.Tensor = self.embedding(values)
        return embedded.transpose(1, 2) * mask[..., None].to(pitch.dtype)
