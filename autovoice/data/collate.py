"""Collate dataset items (dicts of numpy arrays) into padded batches with lengths and masks.

Variable-length entries are padded on their last (time) axis; each gets ``<stem>_lengths``
(int64) and ``<stem>_mask`` (bool, True on real positions):

=================  ==================  =====================================================
item key           batch key           shape
=================  ==================  =====================================================
``tokens``         ``tokens``          (B, T_text) int64, padded with 0
``mel``            ``mels``            (B, n_mels, T) float32, padded with ``mel_pad``
``source_mel``     ``source_mels``     same, for paired data
``target_mel``     ``target_mels``     same
``pitch``          ``pitch``           (B, T) float32 f0 in Hz, padded with 0 (unvoiced)
=================  ==================  =====================================================

Every other array is stacked (``speaker`` → ``speakers`` (B,), ``audio`` → ``audio``
(B, segment), ``audio_mel`` → ``audio_mels``, ``audio_pitch`` → ``audio_pitch`` (B, frames));
strings are listed (``id`` → ``ids``).
Keys ending in ``_length`` are dropped: the lengths come from the arrays themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from autovoice.errors import AutovoiceError
from autovoice.text.tokenize import length_mask

PADDED: Mapping[str, tuple[str, str]] = {
    "tokens": ("tokens", "token"),
    "mel": ("mels", "mel"),
    "source_mel": ("source_mels", "source_mel"),
    "target_mel": ("target_mels", "target_mel"),
    "pitch": ("pitch", "pitch"),
}
"""Item key -> (batch key, stem of its ``_lengths`` and ``_mask``)."""

VOICE_KEYS = ("mels", "mel_lengths", "speakers")
"""A speech batch's audio side: the mels, their lengths and the speakers."""
PAIRED_KEYS = (
    "source_mels",
    "source_mel_lengths",
    "target_mels",
    "target_mel_lengths",
    "source_speakers",
    "target_speakers",
)
"""A paired (voice conversion) batch's audio side: both mels with their lengths, both
speakers."""

_UNCHANGED = frozenset({"audio", "tokens", "pitch", "audio_pitch"})


class CollateError(AutovoiceError):
    """Items that cannot form one batch (missing keys, mismatched shapes)."""


def pad_time(arrays: Sequence[np.ndarray], value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Stack arrays that differ only in their last axis, padding it with ``value``."""
    lengths = np.array([a.shape[-1] for a in arrays], dtype=np.int64)
    lead = {a.shape[:-1] for a in arrays}
    if len(lead) != 1:
        raise CollateError(f"cannot pad arrays of shapes {sorted({a.shape for a in arrays})}")
    dtype = np.result_type(*arrays)
    out = np.full((len(arrays), *lead.pop(), int(lengths.max())), value, dtype=dtype)
    for row, array in zip(out, arrays, strict=True):
        row[..., : array.shape[-1]] = array
    return out, lengths


def plural(key: str) -> str:
    return key if key in _UNCHANGED else f"{key}s"


def _stack(key: str, values: list[Any]) -> Any:
    if all(isinstance(v, str) for v in values):
        return list(values)
    arrays = [np.asarray(v) for v in values]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise CollateError(
            f"item entry {key!r} has different shapes in one batch: {sorted(shapes)}"
        )
    return np.stack(arrays)


def collate(items: Sequence[Mapping[str, Any]], *, mel_pad: float = 0.0) -> dict[str, Any]:
    """One batch from ``items``; ``mel_pad`` fills padded mel frames (log of silence is usual)."""
    if not items:
        raise CollateError("cannot collate an empty list of items")
    keys = list(items[0])
    for index, item in enumerate(items):
        if list(item) != keys:
            raise CollateError(f"item {index} has keys {sorted(item)}, expected {sorted(keys)}")
    batch: dict[str, Any] = {}
    for key in keys:
        values = [item[key] for item in items]
        if key.endswith("_length"):
            continue
        if key in PADDED:
            name, stem = PADDED[key]
            arrays = [np.asarray(v) for v in values]
            fill = mel_pad if stem.endswith("mel") else 0
            batch[name], lengths = pad_time(arrays, fill)
            batch[f"{stem}_lengths"] = lengths
            batch[f"{stem}_mask"] = length_mask(lengths, batch[name].shape[-1])
        else:
            batch[plural(key)] = _stack(key, values)
    return batch
