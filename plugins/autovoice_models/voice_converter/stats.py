"""Per-speaker log-mel statistics, gathered from the first training batches and then frozen."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from autovoice_models.moments import RunningMoments, moments

__all__ = ["VARIANCE_FLOOR", "SpeakerStats"]

VARIANCE_FLOOR = 1e-4
"""Smallest variance of a band's statistics (a band that is always silent)."""


class SpeakerStats(RunningMoments):
    """Each speaker's per-band log-mel mean and standard deviation, and those of all speakers
    pooled, over the valid frames of the first ``batches`` training batches; kept as buffers
    (saved with the model), then frozen. Until data has been seen, means are ``init_mean`` and
    deviations 1.
    """

    floor = VARIANCE_FLOOR
    pooled_mean: torch.Tensor
    pooled_std: torch.Tensor

    def __init__(self, *, n_speakers: int, n_mels: int, batches: int, init_mean: float) -> None:
        super().__init__(
            batches=batches,
            counts=(n_speakers,),
            shape=(n_speakers, n_mels),
            init_mean=init_mean,
            init_std=1.0,
        )
        self.register_buffer("pooled_mean", torch.full((n_mels,), init_mean, dtype=torch.float32))
        self.register_buffer("pooled_std", torch.ones(n_mels, dtype=torch.float32))

    @torch.no_grad()
    def update(self, groups: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
        """Add one batch's ``(mels, mask, speakers)`` groups, in training mode while not frozen."""
        if not self.training:
            return
        active = self.active()
        for mels, mask, speakers in groups:
            weight = mask[:, None, :].to(torch.float64)
            values = mels.to(torch.float64) * weight
            self.count.index_add_(0, speakers, active * weight.sum((1, 2)))
            self.total.index_add_(0, speakers, active * values.sum(-1))
            self.total_sq.index_add_(0, speakers, active * (values * values).sum(-1))
        self.refresh()
        if bool((self.count > 1).any()):
            sums = (self.count.sum(), self.total.sum(0), self.total_sq.sum(0))
            pooled = moments(*sums, floor=VARIANCE_FLOOR)
            self.pooled_mean.copy_(pooled[0])
            self.pooled_std.copy_(pooled[1])

    def standardize(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` standardized per band with the pooled statistics."""
        return (mel - self.pooled_mean[None, :, None]) / self.pooled_std[None, :, None]

    def restore(self, standard: torch.Tensor, speakers: torch.Tensor) -> torch.Tensor:
        """A standardized ``(batch, n_mels, frames)`` mel at the level of each item's speaker."""
        return standard * self.std[speakers][:, :, None] + self.mean[speakers][:, :, None]
