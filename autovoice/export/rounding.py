"""Roundings that floats may take either way, held to both sides in export validation.

An acoustic model's graph rounds continuous values to integers (the frame where each token
ends). Where such a value lies at .5 within float noise, ONNX Runtime and PyTorch may round it
to neighbouring integers, and the outputs after it then differ by far more than any tolerance:
a frame moves from one token to the next. That is not an export fault, and hiding it with a
looser tolerance would hide real faults too. So an export module whose graph rounds says so
(:class:`RoundedValues`), and a case whose outputs differ is explained only if, with one of the
roundings that lie within :data:`TIE_MARGIN` of .5 taken the other way, PyTorch's outputs match
ONNX Runtime's within the tolerance. Any other difference still fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch

__all__ = ["MAX_TIES", "TIE_MARGIN", "RoundedValues", "rounding_ties", "with_ties_flipped"]

TIE_MARGIN = 1e-3
"""How near .5 a rounded value must be (in its own units, frames) to count as a tie. float32
noise between runtimes on a position of about 1000 frames is of the order of 1e-4."""

MAX_TIES = 6
"""More ties than this in one case (2**6 roundings to try) are not explained: a fault."""


@runtime_checkable
class RoundedValues(Protocol):
    """An export module whose graph rounds values to integers (round half to even)."""

    def rounded_values(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The values the graph rounds, float, NaN where none is used."""
        ...

    def forward_rounded(self, *inputs: torch.Tensor, rounded: torch.Tensor) -> object:
        """The graph's outputs with these int64 values in place of its own rounding."""
        ...


def rounding_ties(values: torch.Tensor) -> torch.Tensor:
    """Indices ``(k, values.dim())`` of the values within :data:`TIE_MARGIN` of .5."""
    distance = (values.double() - torch.floor(values.double()) - 0.5).abs()
    return torch.nonzero(torch.nan_to_num(distance, nan=1.0) < TIE_MARGIN)


def with_ties_flipped(
    module: RoundedValues,
    inputs: Sequence[torch.Tensor],
    matches: Callable[[list[np.ndarray]], bool],
) -> int | None:
    """The fewest ties taken the other way with which ``module``'s outputs ``matches``; None if
    no such rounding exists (no tie, too many, or a difference that no rounding explains)."""
    with torch.no_grad():
        values = module.rounded_values(*inputs)
        ties = rounding_ties(values)
        if not 0 < len(ties) <= MAX_TIES:
            return None
        rounded = torch.round(values.float()).nan_to_num(0.0)
        other = torch.where(rounded > values, rounded - 1, rounded + 1)
        flips = sorted(
            (c for c in itertools.product((False, True), repeat=len(ties)) if any(c)), key=sum
        )
        for flip in flips:
            chosen = rounded.clone()
            for index, flipped in zip(ties.tolist(), flip, strict=True):
                if flipped:
                    chosen[tuple(index)] = other[tuple(index)]
            result = module.forward_rounded(*inputs, rounded=chosen.to(torch.int64))
            outputs = result if isinstance(result, (tuple, list)) else (result,)
            if matches([o.detach().cpu().numpy() for o in outputs]):
                return sum(flip)
    return None
