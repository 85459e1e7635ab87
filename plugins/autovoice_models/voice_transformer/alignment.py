"""Learned text-to-mel alignment, after "One TTS Alignment To Rule Them All" (Badlani et al.).

Text embeddings and mel frames are encoded by small convolutional stacks; the attention logits
are negative scaled squared L2 distances between the two encodings, combined with a static
beta-binomial prior that favours the diagonal. The forward-sum loss (CTC over the attention)
trains the soft alignment; monotonic alignment search (MAS) turns it into hard durations; the
binarization loss pulls the soft alignment towards the hard one. Training only: nothing here is
part of the exported graph.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Aligner",
    "beta_binomial_log_prior",
    "binarization_loss",
    "forward_sum_loss",
    "monotonic_alignment_search",
]

_NEG = -1e4
"""Log-probability standing for "impossible" where -inf would put NaNs in gradients."""


class Aligner(nn.Module):
    """Soft alignment between tokens and mel frames.

    ``forward(text, mels, token_mask, frame_mask, log_prior)`` with text ``(B, T_text, D)``,
    mels ``(B, n_mels, T_mel)`` and the log prior ``(B, T_mel, T_text)`` returns the
    log-probabilities ``(B, T_mel, T_text)``: for each frame, a distribution over its tokens
    (times the prior, so not normalized).

    ``temperature`` scales the squared distances. The paper's 5e-4 suits encodings far larger
    than these at initialization (squared distances of about 20 to 50), where it would leave
    the logits flat for hundreds of steps; 0.05 starts them with a spread of about 0.5.
    """

    def __init__(self, *, text_dim: int, n_mels: int, dim: int, temperature: float = 0.05) -> None:
        super().__init__()
        self.temperature = temperature
        self.text_encoder = nn.Sequential(
            nn.Conv1d(text_dim, 2 * text_dim, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(2 * text_dim, dim, 1),
        )
        self.mel_encoder = nn.Sequential(
            nn.Conv1d(n_mels, 2 * n_mels, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(2 * n_mels, n_mels, 1),
            nn.ReLU(),
            nn.Conv1d(n_mels, dim, 1),
        )

    def forward(
        self,
        text: torch.Tensor,
        mels: torch.Tensor,
        token_mask: torch.Tensor,
        frame_mask: torch.Tensor,
        log_prior: torch.Tensor,
    ) -> torch.Tensor:
        keys = self.text_encoder((text * token_mask[..., None]).transpose(1, 2)).float()
        queries = self.mel_encoder(mels * frame_mask[:, None, :]).float()
        distance = (
            queries.pow(2).sum(1)[:, :, None]
            + keys.pow(2).sum(1)[:, None, :]
            - 2 * torch.bmm(queries.transpose(1, 2), keys)
        )
        logits = -self.temperature * distance.clamp(min=0)
        logits = logits.masked_fill(~token_mask[:, None, :], _NEG)
        log_probs = torch.log_softmax(logits, dim=-1) + log_prior
        return log_probs.masked_fill(~token_mask[:, None, :], _NEG)


def beta_binomial_log_prior(
    token_lengths: torch.Tensor,
    frame_lengths: torch.Tensor,
    n_tokens: int,
    n_frames: int,
    scaling: float = 1.0,
) -> torch.Tensor:
    """Log of the beta-binomial alignment prior, ``(B, n_frames, n_tokens)``.

    Frame ``i`` (1-based) of an utterance of ``M`` frames and ``N`` tokens puts a
    BetaBinomial(N - 1, scaling * i, scaling * (M + 1 - i)) distribution over its tokens, so the
    prior mass runs along the diagonal. Padded frames and tokens get 0 (no preference).
    """
    with torch.no_grad():
        n = (token_lengths.float() - 1)[:, None, None]
        m = frame_lengths.float()[:, None, None]
        k = torch.arange(n_tokens, device=n.device, dtype=torch.float32)[None, None, :]
        i = torch.arange(1, n_frames + 1, device=n.device, dtype=torch.float32)[None, :, None]
        a = scaling * i
        b = scaling * (m + 1 - i).clamp(min=1)
        rest = (n - k).clamp(min=0)
        # log C(n, k) + log B(k + a, n - k + b) - log B(a, b); a + b = scaling * (m + 1)
        per_token = torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(rest + 1)
        per_frame = torch.lgamma(a + b) - torch.lgamma(a) - torch.lgamma(b)
        per_item = -torch.lgamma(n + a + b)
        prior = torch.lgamma(k + a) + torch.lgamma(rest + b) + per_token + per_frame + per_item
        valid = (k <= n) & (i <= m)
        return torch.where(valid, prior, torch.zeros_like(prior))


def forward_sum_loss(
    log_probs: torch.Tensor,
    token_lengths: torch.Tensor,
    frame_lengths: torch.Tensor,
    blank_log_prob: float = -1.0,
) -> torch.Tensor:
    """CTC loss of reading every token in order, each for one or more frames.

    ``log_probs`` is the aligner's output ``(B, T_mel, T_text)``; a blank class with a fixed
    log-probability is added, as in the paper. Averaged over tokens, then over the batch.
    """
    batch, _, n_tokens = log_probs.shape
    padded = F.pad(log_probs.float(), (1, 0), value=blank_log_prob)
    log_softmax = torch.log_softmax(padded, dim=-1).transpose(0, 1)
    targets = torch.arange(1, n_tokens + 1, device=log_probs.device).expand(batch, n_tokens)
    return F.ctc_loss(
        log_softmax,
        targets,
        input_lengths=frame_lengths,
        target_lengths=token_lengths,
        blank=0,
        reduction="mean",
        zero_infinity=True,
    )


def binarization_loss(hard: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """Mean negative log soft-probability on the hard path (KL from hard to soft alignment).

    ``log_probs`` are the aligner's outputs; they are renormalized over tokens per frame first.
    """
    soft = torch.log_softmax(log_probs.float(), dim=-1)
    picked = (hard * soft.clamp(min=-1e3)).sum()
    return -picked / hard.sum().clamp(min=1)


def _mas_values(log_probs: np.ndarray) -> np.ndarray:
    """``came_from_previous[b, j, i]``: the best path to (frame j, token i) comes from token
    ``i - 1`` at frame ``j - 1`` rather than from token ``i``."""
    batch, n_frames, n_tokens = log_probs.shape
    came = np.zeros((batch, n_frames, n_tokens), dtype=bool)
    value = np.full((batch, n_tokens), -np.inf)
    value[:, 0] = log_probs[:, 0, 0]
    for j in range(1, n_frames):
        shifted = np.concatenate([np.full((batch, 1), -np.inf), value[:, :-1]], axis=1)
        came[:, j] = shifted > value
        value = np.maximum(value, shifted) + log_probs[:, j]
    return came


def monotonic_alignment_search(
    log_probs: np.ndarray, token_lengths: np.ndarray, frame_lengths: np.ndarray
) -> np.ndarray:
    """The most probable monotonic hard alignment, ``(B, T_mel, T_text)`` of 0/1 (float32).

    Each valid frame maps to exactly one token; tokens advance by at most one per frame, the
    path starts at token 0 and ends at the last token. With at least as many frames as tokens
    every token gets one frame or more, so durations (sums over frames) add up to the frame
    count. Dynamic programming over frames, vectorized over the batch and tokens.
    """
    batch, n_frames, n_tokens = log_probs.shape
    scores = np.asarray(log_probs, dtype=np.float64).copy()
    token_ok = np.arange(n_tokens)[None, None, :] < token_lengths[:, None, None]
    scores[~np.broadcast_to(token_ok, scores.shape)] = -np.inf
    came = _mas_values(scores)
    hard = np.zeros((batch, n_frames, n_tokens), dtype=np.float32)
    rows = np.arange(batch)
    token = np.asarray(token_lengths, dtype=np.int64) - 1
    for j in range(n_frames - 1, -1, -1):
        active = j < frame_lengths
        hard[rows[active], j, token[active]] = 1.0
        step = came[rows, j, np.maximum(token, 0)] & active & (token > 0)
        token = token - step.astype(np.int64)
    return hard
