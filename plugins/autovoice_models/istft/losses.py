"""Phase losses of APNet (Ai and Ling, 2023), on angles in radians.

A phase error is measured through the anti-wrapping function ``|x - 2π·round(x / 2π)|``, the
distance to the nearest whole turn, so that ``π - ε`` and ``-π + ε`` are close. Three are
summed: the instantaneous phase itself, its difference along frequency (group delay) and its
difference along time (instantaneous frequency).
"""

from __future__ import annotations

import math

import torch

TWO_PI = 2.0 * math.pi


def anti_wrap(x: torch.Tensor) -> torch.Tensor:
    """Distance of each angle to the nearest multiple of 2π."""
    return torch.abs(x - TWO_PI * torch.round(x / TWO_PI))


def _mean(error: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return error.mean()
    return (error * weight).sum() / weight.sum().clamp(min=1e-12)


def _pairs(weight: torch.Tensor | None, dim: int) -> torch.Tensor | None:
    """The weight of a difference along ``dim``: the geometric mean of its two ends'."""
    if weight is None:
        return None
    n = weight.shape[dim]
    return torch.sqrt(weight.narrow(dim, 0, n - 1) * weight.narrow(dim, 1, n - 1))


def phase_losses(
    predicted: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """``ip``, ``gd`` and ``iaf`` losses of ``(batch, bins, frames)`` phases: plain means, or
    with ``weight`` (the target's magnitude, say) means weighted by it, so that the phase of
    bins that carry the sound counts and that of near-silent ones, which is noise, hardly."""
    gd = anti_wrap(torch.diff(predicted, dim=1) - torch.diff(target, dim=1))
    iaf = anti_wrap(torch.diff(predicted, dim=2) - torch.diff(target, dim=2))
    return {
        "ip_loss": _mean(anti_wrap(predicted - target), weight),
        "gd_loss": _mean(gd, _pairs(weight, 1)),
        "iaf_loss": _mean(iaf, _pairs(weight, 2)),
    }


__all__ = ["anti_wrap", "phase_losses"]
