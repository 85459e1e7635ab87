"""The length regulator: token features repeated over their durations, for a padded batch.

Built from a cumulative sum, a comparison and a gather, which export to ONNX with dynamic
shapes (``repeat_interleave`` and ``searchsorted`` do not, or not reliably).
"""

from __future__ import annotations

import torch

__all__ = ["frame_ends", "frame_positions", "regulate"]


def frame_positions(durations: torch.Tensor, pace: torch.Tensor) -> torch.Tensor:
    """Where each token ends, in frames and unrounded, ``(batch, tokens)`` float32, for
    durations in frames: the running total divided by ``pace``."""
    return torch.cumsum(durations.float(), dim=1) / pace.float()[:, None]


def frame_ends(positions: torch.Tensor) -> torch.Tensor:
    """Integer end frame of each token, ``(batch, tokens)`` int64, from :func:`frame_positions`.

    The running total is rounded, not each duration, so an utterance lasts
    ``round(sum(durations) / pace)`` frames and no rounding error accumulates over tokens. A
    token with duration 0 ends where the previous one does (it gets no frames).
    """
    return torch.round(positions).to(torch.int64)


def regulate(
    x: torch.Tensor, ends: torch.Tensor, n_frames: torch.Tensor | int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat token features ``x`` ``(batch, tokens, dim)`` to ``(batch, n_frames, dim)``.

    Token ``i`` covers frames ``ends[i-1] <= t < ends[i]``; padded tokens must have the ending
    of the last valid token. Returns the frames and their mask (True up to ``ends[:, -1]``).
    """
    frames = torch.arange(n_frames, device=x.device)  # type: ignore[arg-type]
    # the last token's end is left out of the count, so the index never passes the last token
    index = (ends[:, None, :-1] <= frames[None, :, None]).sum(-1)
    mask = frames[None, :] < ends[:, -1:]
    gathered = torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    return gathered * mask[..., None].to(x.dtype), mask
