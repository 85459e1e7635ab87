"""Padding, masks and unpadding for batches of variable-length sequences.

Sequences are padded along their first axis; any trailing axes (a mel's channels) must agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from autovoice.text.normalize import TextError


def pad_sequences(
    seqs: Sequence[npt.NDArray[Any]], pad_id: int = 0, multiple_of: int = 1
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """Stack ``seqs`` into one array ``(B, T, ...)`` filled with ``pad_id``, and their lengths.

    ``T`` is the longest length rounded up to a multiple of ``multiple_of``. The dtype is the
    sequences' common dtype (int64 for an empty batch).
    """
    if multiple_of < 1:
        raise TextError(f"multiple_of must be >= 1, got {multiple_of}")
    arrays = [np.asarray(seq) for seq in seqs]
    trailing = _trailing_shape(arrays)
    lengths = np.asarray([len(array) for array in arrays], dtype=np.int64)
    longest = int(lengths.max()) if len(arrays) else 0
    width = -(-longest // multiple_of) * multiple_of
    dtype = np.result_type(*{array.dtype for array in arrays}) if arrays else np.dtype(np.int64)
    padded = np.full((len(arrays), width, *trailing), pad_id, dtype=dtype)
    for row, array in enumerate(arrays):
        padded[row, : len(array)] = array
    return padded, lengths


def _trailing_shape(arrays: Sequence[npt.NDArray[Any]]) -> tuple[int, ...]:
    """The shape every sequence shares after its first axis; a TextError naming the odd one."""
    if not arrays:
        return ()
    for position, array in enumerate(arrays):
        if array.ndim == 0:
            raise TextError(f"sequence {position} is a scalar, not a sequence")
        if array.shape[1:] != arrays[0].shape[1:]:
            raise TextError(
                f"sequence {position} has trailing shape {array.shape[1:]}, "
                f"sequence 0 has {arrays[0].shape[1:]}"
            )
    return tuple(arrays[0].shape[1:])


def length_mask(
    lengths: Sequence[int] | npt.NDArray[np.integer[Any]], max_len: int | None = None
) -> npt.NDArray[np.bool_]:
    """``(B, T)`` booleans, True where a position lies within its row's length.

    ``T`` is ``max_len``, or the longest length when it is None.
    """
    lengths_array = _check_lengths(lengths)
    longest = int(lengths_array.max()) if lengths_array.size else 0
    width = longest if max_len is None else max_len
    if width < longest:
        raise TextError(f"max_len {max_len} is shorter than the longest length {longest}")
    return np.arange(width)[None, :] < lengths_array[:, None]


def unpad(
    padded: npt.NDArray[Any], lengths: Sequence[int] | npt.NDArray[np.integer[Any]]
) -> list[npt.NDArray[Any]]:
    """The sequences of a padded batch, each cut to its length (copies, not views)."""
    lengths_array = _check_lengths(lengths)
    if padded.ndim < 2 or len(padded) != len(lengths_array):
        raise TextError(
            f"padded batch of shape {padded.shape} does not match {len(lengths_array)} lengths"
        )
    if lengths_array.size and int(lengths_array.max()) > padded.shape[1]:
        raise TextError(
            f"length {int(lengths_array.max())} exceeds the padded width {padded.shape[1]}"
        )
    return [padded[row, :length].copy() for row, length in enumerate(lengths_array.tolist())]


def _check_lengths(
    lengths: Sequence[int] | npt.NDArray[np.integer[Any]],
) -> npt.NDArray[np.int64]:
    array = np.asarray(lengths)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise TextError(f"lengths must be a 1-D array of integers, got shape {array.shape}")
    if array.size and int(array.min()) < 0:
        raise TextError(f"lengths must be >= 0, got {int(array.min())}")
    return array.astype(np.int64)
