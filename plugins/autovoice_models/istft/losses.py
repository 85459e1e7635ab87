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


def phase_losses(predicted: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """``ip``, ``gd`` and ``iaf`` losses of ``(batch, bins, frames)`` phases."""
    return {
        "ip_loss": anti_wrap(predicted - target).mean(),
        "gd_loss": anti_wrap(torch.diff(predicted, dim=1) - torch.diff(target, dim=1)).mean(),
        "iaf_loss": anti_wrap(torch.diff(predicted, dim=2) - torch.diff(target, dim=2)).mean(),
    }


__all__ = ["anti_wrap", "phase_losses"]
