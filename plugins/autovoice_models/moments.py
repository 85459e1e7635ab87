"""Running moments of the first training batches, then frozen (torch).

:class:`RunningMoments` keeps float64 sums of the valid values, of their squares and their
count, and the float32 mean and standard deviation made of them, all as buffers (saved with the
model, exact on resume). :class:`~autovoice_models.voice_transformer.targets.RunningNorm` and
:class:`~autovoice_models.voice_converter.stats.SpeakerStats` add how a batch is summed.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

__all__ = ["RunningMoments", "moments"]


def moments(
    count: torch.Tensor, total: torch.Tensor, total_sq: torch.Tensor, *, floor: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of ``count`` values summing to ``total``, their squares to
    ``total_sq``; the variance is at least ``floor``."""
    n = count.clamp(min=1)
    mean = total / n
    return mean, (total_sq / n - mean.pow(2)).clamp(min=floor).sqrt()


class RunningMoments(nn.Module):
    """Sums of shape ``shape`` over the first ``batches`` training batches, counted per entry of
    ``counts`` (the leading dimensions of ``shape``, or ``()`` for one count). ``mean`` and
    ``std`` hold ``init_mean`` and ``init_std`` until more than one value is counted; the
    variance is at least the class's ``floor``.
    """

    floor: ClassVar[float]

    seen: torch.Tensor
    count: torch.Tensor
    total: torch.Tensor
    total_sq: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        *,
        batches: int,
        counts: tuple[int, ...],
        shape: tuple[int, ...],
        init_mean: float,
        init_std: float,
    ) -> None:
        super().__init__()
        self.batches = batches
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))
        self.register_buffer("count", torch.zeros(counts, dtype=torch.float64))
        self.register_buffer("total", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("total_sq", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("mean", torch.full(shape, init_mean, dtype=torch.float32))
        self.register_buffer("std", torch.full(shape, init_std, dtype=torch.float32))

    def active(self) -> torch.Tensor:
        """1 while the sums still gather, 0 once ``batches`` have been seen (float64, the factor
        of a batch's sums)."""
        return (self.seen < self.batches).to(torch.float64)

    def refresh(self) -> None:
        """Count one batch, and set ``mean`` and ``std`` from the sums wherever more than one
        value has been counted (elsewhere they keep their values)."""
        self.seen += 1
        count = self.count.reshape(self.count.shape + (1,) * (self.total.dim() - self.count.dim()))
        mean, std = moments(count, self.total, self.total_sq, floor=self.floor)
        ready = count > 1
        self.mean.copy_(torch.where(ready, mean, self.mean.to(torch.float64)))
        self.std.copy_(torch.where(ready, std, self.std.to(torch.float64)))
