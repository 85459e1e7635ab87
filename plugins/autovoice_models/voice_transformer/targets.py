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

from autovoice_models.moments import RunningMoments

__all__ = ["RunningNorm", "frame_energy", "frame_log_f0", "token_average"]


class RunningNorm(RunningMoments):
    """Mean and standard deviation of the valid values of the first ``batches`` training
    batches, kept as buffers (saved with the model, exact on resume), then frozen.

    ``init_mean`` and ``init_std`` apply until the first batch has been seen.
    """

    floor = 1e-6

    def __init__(self, *, batches: int, init_mean: float, init_std: float) -> None:
        super().__init__(
            batches=batches, counts=(), shape=(), init_mean=init_mean, init_std=init_std
        )

    @torch.no_grad()
    def update(self, values: torch.Tensor, valid: torch.Tensor) -> None:
        """Add the valid values of one batch, in training mode and while not yet frozen."""
        if not self.training:
            return
        active = self.active()
        weight = valid.to(torch.float64)
        data = values.to(torch.float64) * weight
        self.count += active * weight.sum()
        self.total += active * data.sum()
        self.total_sq += active * (data * values.to(torch.float64)).sum()
        self.refresh()

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
