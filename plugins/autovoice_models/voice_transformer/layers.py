"""Transformer building blocks that export to ONNX with dynamic batch and time.

Attention is written out by hand (``nn.MultiheadAttention`` takes a fast path that does not
export, or bakes the example shape into a Reshape). Every block takes a ``mask`` of valid
positions, ``(batch, time)`` bool, and returns zeros at padded positions, so an item's output
never depends on how much padding the batch adds to it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Literal, TypedDict

import torch
from torch import nn

__all__ = [
    "BlockStack",
    "FFTBlock",
    "FFTStack",
    "MultiHeadAttention",
    "PostNet",
    "StackSizes",
    "lengths_to_mask",
    "positional_encoding",
    "sized_stack",
    "start_new_blocks_as_identity",
]


AfterBlock = Callable[[int, torch.Tensor], torch.Tensor]
"""What a stack calls after each of its blocks: ``(block index, hidden) -> hidden``."""


def lengths_to_mask(lengths: torch.Tensor, max_len: torch.Tensor | int) -> torch.Tensor:
    """``(batch,)`` lengths to a ``(batch, max_len)`` mask, True at valid positions."""
    positions = torch.arange(max_len, device=lengths.device)  # type: ignore[arg-type]
    return positions[None, :] < lengths[:, None]


def positional_encoding(length: int | torch.Tensor, dim: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal encodings ``(length, dim)``, computed for any length (no table to outgrow)."""
    position = torch.arange(length, device=device).to(torch.float32)[:, None]  # type: ignore[arg-type]
    freq = torch.arange(0, dim, 2, device=device).to(torch.float32)
    inv = torch.exp(freq * (-math.log(10000.0) / dim))[None, :]
    angles = position * inv
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class MultiHeadAttention(nn.Module):
    """Self-attention over valid keys; ``(batch, time, d_model)`` in and out.

    No dropout on the attention weights: on a CPU it costs more than the rest of the block's
    dropout together, and the residual dropout around the block regularizes it.
    """

    def __init__(self, *, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = d_model // heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, time, d_model)`` to ``(batch, heads, time, head_dim)``."""
        return x.reshape(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        qkv = self.qkv(x)
        width = self.heads * self.head_dim  # slices, not chunk: Split differs across opsets
        q = self._split(qkv[..., :width])
        k = self._split(qkv[..., width : 2 * width])
        v = self._split(qkv[..., 2 * width :])
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        context = torch.matmul(weights, v).transpose(1, 2)
        out: torch.Tensor = self.out(
            context.reshape(x.shape[0], x.shape[1], self.heads * self.head_dim)
        )
        return out


class ConvFeedForward(nn.Module):
    """Position-wise feed-forward made of two 1-D convolutions (kernel ``kernel``, then 1)."""

    def __init__(self, *, d_model: int, ff_dim: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(d_model, ff_dim, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(ff_dim, d_model, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask[:, None, :].to(x.dtype)
        hidden = torch.relu(self.conv1(x.transpose(1, 2) * keep))
        out: torch.Tensor = self.conv2(hidden * keep)
        return self.dropout(out.transpose(1, 2))  # type: ignore[no-any-return]


class FFTBlock(nn.Module):
    """Pre-norm attention then convolutional feed-forward, each with a residual."""

    def __init__(
        self, *, d_model: int, heads: int, ff_dim: int, ff_kernel: int, dropout: float
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model=d_model, heads=heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = ConvFeedForward(d_model=d_model, ff_dim=ff_dim, kernel=ff_kernel, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask[..., None].to(x.dtype)
        x = x + self.dropout(self.attention(self.norm1(x), mask))
        x = x + self.ff(self.norm2(x), mask)
        return x * keep

    def start_as_identity(self) -> None:
        """Zero the last layer of both residual branches: the block passes its input through
        unchanged (at valid positions) until training moves them."""
        for layer in (self.attention.out, self.ff.conv2):
            nn.init.zeros_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def start_new_blocks_as_identity(model: nn.Module, missing: Sequence[str]) -> None:
    """Every :class:`FFTBlock` of ``model`` none of whose tensors ``--init`` found (``missing``:
    state-dict keys of ``model``) starts as the identity, so that a model grown by more blocks
    computes what the smaller one did."""
    absent = set(missing)
    for name, module in model.named_modules():
        if isinstance(module, FFTBlock) and {f"{name}.{k}" for k in module.state_dict()} <= absent:
            module.start_as_identity()


class BlockStack(nn.Module):
    """``layers`` FFT blocks and a final layer norm, without positions (a stack that reads any
    length alike); padding stays zero."""

    def __init__(
        self,
        *,
        layers: int,
        d_model: int,
        heads: int,
        ff_dim: int,
        ff_kernel: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.blocks = nn.ModuleList(
            FFTBlock(
                d_model=d_model, heads=heads, ff_dim=ff_dim, ff_kernel=ff_kernel, dropout=dropout
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)  # on what a subclass adds: FFTStack's positions

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, after_block: AfterBlock | None = None
    ) -> torch.Tensor:
        """``after_block(index, hidden)``, when given, replaces the hidden frames after each
        block (0-based index) before the next block reads them."""
        keep = mask[..., None].to(x.dtype)
        x = x * keep
        for index, block in enumerate(self.blocks):
            x = block(x, mask)
            if after_block is not None:
                x = after_block(index, x)
        normed: torch.Tensor = self.norm(x)
        return normed * keep


class PostNet(nn.Module):
    """A residual refinement of a mel ``(batch, n_mels, frames)``: ``layers`` convolutions
    over frames with tanh between them (Tacotron 2's post-net, without batch norm), added to
    the mel. The last convolution starts at zero, so a post-net added to a trained model
    starts as the identity. Padded frames are zeroed before each convolution, so an item's
    output does not depend on the batch's padding."""

    def __init__(
        self, *, n_mels: int, channels: int, kernel: int, layers: int, dropout: float
    ) -> None:
        super().__init__()
        widths = [n_mels, *([channels] * (layers - 1)), n_mels]
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel, padding=kernel // 2) for a, b in itertools.pairwise(widths)
        )
        last = self.convs[-1]
        assert isinstance(last, nn.Conv1d)
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask[:, None, :].to(mel.dtype)
        x = mel
        for index, conv in enumerate(self.convs):
            x = conv(x * keep)
            if index < len(self.convs) - 1:
                x = self.dropout(torch.tanh(x))
        return mel + x


class FFTStack(BlockStack):
    """Positional encoding, ``layers`` FFT blocks and a final layer norm; padding stays zero."""

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, after_block: AfterBlock | None = None
    ) -> torch.Tensor:
        x = self.dropout(x + positional_encoding(x.shape[1], self.d_model, x.device).to(x.dtype))
        return super().forward(x, mask, after_block)


class StackSizes(TypedDict):
    """The sizes of a model's encoder and decoder stacks, as the flat keyword arguments of the
    model's constructor (``**sizes: Unpack[StackSizes]``): the fields of
    :class:`autovoice_models.options.TransformerSizes` once the preset is applied."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    heads: int
    ff_dim: int
    ff_kernel: int


def sized_stack(
    kind: type[BlockStack], sizes: StackSizes, part: Literal["encoder", "decoder"], dropout: float
) -> BlockStack:
    """The ``part`` stack of a model of these sizes, of kind ``kind``."""
    layers = sizes["encoder_layers"] if part == "encoder" else sizes["decoder_layers"]
    return kind(
        layers=layers,
        d_model=sizes["d_model"],
        heads=sizes["heads"],
        ff_dim=sizes["ff_dim"],
        ff_kernel=sizes["ff_kernel"],
        dropout=dropout,
    )
