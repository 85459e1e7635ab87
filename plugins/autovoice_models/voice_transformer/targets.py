"""Pitch and energy targets: frame values, their normalization, and per-token averages.

Pitch comes in Hz per mel frame, 0 where unvoiced; it is modelled as log-f0, normalized with a
mean and standard deviation gathered from the first training batches (see :class:`RunningNorm`).
Energy is computed from the log-mel itself: the log of the mean mel magnitude of each frame,
``logsumexp(log_mel) - log(n_mels)``, normalized the same way. Both are averaged over the frames
of each token under the hard alignment, which gives one target per token; an unvoiced token's
pitch target is 0, the normalized mean.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["RunningNorm", "frame_energy", "frame_log_f0", "token_average"]


class RunningNorm(nn.Module):
    """Mean and standard deviation of the valid values of the first ``batches`` training
    batches, kept as buffers (saved with the model, exact on resume), then frozen.

    ``init_mean`` and ``init_std`` apply until the first batch has been seen.
    """

    seen: torch.Tensor
    count: torch.Tensor
    total: torch.Tensor
    total_sq: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, *, batches: int, init_mean: float, init_std: float) -> None:
        super().__init__()
        self.batches = batches
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("total", torch.zeros((), dtype=torch.float64))
        self.register_buffer("total_sq", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.tensor(init_mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(init_std, dtype=torch.float32))

    @torch.no_grad()
    def update(self, values: torch.Tensor, valid: torch.Tensor) -> None:
        """Add the valid values of one batch, in training mode and while not yet frozen."""
        if not self.training:
            return
        active = (self.seen < self.batches).to(torch.float64)
        weight = valid.to(torch.float64)
        data = values.to(torch.float64) * weight
        self.count += active * weight.sum()
        self.total += active * data.sum()
        self.total_sq += active * (data * values.to(torch.float64)).sum()
        self.seen += 1
        n = self.count.clamp(min=1)
        mean = self.total / n
        std = (self.total_sq / n - mean.pow(2)).clamp(min=1e-6).sqrt()
        ready = self.count > 1
        self.mean.copy_(torch.where(ready, mean, self.mean.to(torch.float64)))
        self.std.copy_(torch.where(ready, std, self.std.to(torch.float64)))

    def normalize(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean) / self.std


def frame_log_f0(pitch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log f0, voiced)`` of ``(batch, frames)`` pitch in Hz; log f0 is 0 where unvoiced."""
    voiced = pitch > 0
    return torch.where(voiced, torch.log(pitch.clamp(min=1e-3)), torch.zeros_like(pitch)), voiced


def frame_energy(mels: torch.Tensor) -> torch.Tensor:
    """Log of the mean mel magnitude of each frame: ``(batch, n_mels, frames)`` to
    ``(batch, frames)``."""
    return torch.logsumexp(mels.float(), dim=1) - math.log(mels.shape[1])


def token_average(hard: torch.Tensor, values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean of frame ``values`` over each token's frames; 0 for a token with no weight.

    ``hard`` is the ``(batch, frames, tokens)`` 0/1 alignment, ``values`` and ``weight``
    ``(batch, frames)``.
    """
    weight = weight.to(values.dtype)
    sums = torch.einsum("bft,bf->bt", hard, values * weight)
    counts = torch.einsum("bft,bf->bt", hard, weight)
    return sums / counts.clamp(min=1)
