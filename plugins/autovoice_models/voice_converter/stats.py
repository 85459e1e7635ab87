"""Per-speaker log-mel statistics, gathered from the first training batches and then frozen."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["VARIANCE_FLOOR", "SpeakerStats"]

VARIANCE_FLOOR = 1e-4
"""Smallest variance of a band's statistics (a band that is always silent)."""


class SpeakerStats(nn.Module):
    """Each speaker's per-band log-mel mean and standard deviation, and those of all speakers
    pooled, over the valid frames of the first ``batches`` training batches; kept as buffers
    (saved with the model), then frozen. Until data has been seen, means are ``init_mean`` and
    deviations 1.
    """

    seen: torch.Tensor
    count: torch.Tensor
    total: torch.Tensor
    total_sq: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    pooled_mean: torch.Tensor
    pooled_std: torch.Tensor

    def __init__(self, *, n_speakers: int, n_mels: int, batches: int, init_mean: float) -> None:
        super().__init__()
        self.batches = batches
        shape = (n_speakers, n_mels)
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))
        self.register_buffer("count", torch.zeros(n_speakers, dtype=torch.float64))
        self.register_buffer("total", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("total_sq", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("mean", torch.full(shape, init_mean, dtype=torch.float32))
        self.register_buffer("std", torch.ones(shape, dtype=torch.float32))
        self.register_buffer("pooled_mean", torch.full((n_mels,), init_mean, dtype=torch.float32))
        self.register_buffer("pooled_std", torch.ones(n_mels, dtype=torch.float32))

    @torch.no_grad()
    def update(self, groups: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
        """Add one batch's ``(mels, mask, speakers)`` groups, in training mode while not frozen."""
        if not self.training:
            return
        active = (self.seen < self.batches).to(torch.float64)
        for mels, mask, speakers in groups:
            weight = mask[:, None, :].to(torch.float64)
            values = mels.to(torch.float64) * weight
            self.count.index_add_(0, speakers, active * weight.sum((1, 2)))
            self.total.index_add_(0, speakers, active * values.sum(-1))
            self.total_sq.index_add_(0, speakers, active * (values * values).sum(-1))
        self.seen += 1
        mean, std = _moments(self.count[:, None], self.total, self.total_sq)
        ready = (self.count > 1)[:, None]
        self.mean.copy_(torch.where(ready, mean, self.mean.to(torch.float64)))
        self.std.copy_(torch.where(ready, std, self.std.to(torch.float64)))
        if bool(ready.any()):
            pooled = _moments(self.count.sum(), self.total.sum(0), self.total_sq.sum(0))
            self.pooled_mean.copy_(pooled[0])
            self.pooled_std.copy_(pooled[1])

    def standardize(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` standardized per band with the pooled statistics."""
        return (mel - self.pooled_mean[None, :, None]) / self.pooled_std[None, :, None]

    def restore(self, standard: torch.Tensor, speakers: torch.Tensor) -> torch.Tensor:
        """A standardized ``(batch, n_mels, frames)`` mel at the level of each item's speaker."""
        return standard * self.std[speakers][:, :, None] + self.mean[speakers][:, :, None]


def _moments(
    count: torch.Tensor, total: torch.Tensor, total_sq: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    n = count.clamp(min=1)
    mean = total / n
    return mean, (total_sq / n - mean.pow(2)).clamp(min=VARIANCE_FLOOR).sqrt()
