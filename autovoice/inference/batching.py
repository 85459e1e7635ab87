"""Batching helpers of the pipeline (pure numpy): grouping texts, padding mels, cutting audio."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "PADDING_SLACK",
    "TAIL_FRAMES",
    "cut_waves",
    "groups_by_length",
    "groups_by_padding",
    "pad_mels",
    "stack_mels",
]

TAIL_FRAMES = 16
"""Silent frames appended after the longest mel of a batch. They cover the vocoder's look-ahead,
so the audio of an item does not depend on what follows it (the next item's padding, or the
end of the array): a batch gives each item the audio it gets alone."""


def groups_by_length(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Indices of ``texts`` in groups of at most ``batch_size``, similar lengths together
    (sorted by length, stable), so that a batch holds little padding."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


PADDING_SLACK = 0.25
"""On a CPU, the items of one batch share an acoustic graph call only while the longest is at
most this much longer than the shortest: there a graph's cost grows with the padded batch, and a
call more costs little (``nox -s bench -- --suite dynamic``)."""


def groups_by_padding(lengths: Sequence[int], slack: float | None) -> list[list[int]]:
    """Indices of ``lengths`` in groups of similar length: sorted (stable), a new group begun
    where an item is more than ``1 + slack`` times the group's first; one group of all (in
    order) when ``slack`` is None."""
    if slack is None:
        return [list(range(len(lengths)))] if len(lengths) else []
    if slack < 0:
        raise ValueError(f"slack must be >= 0 or None, got {slack}")
    groups: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if groups and lengths[index] <= (1 + slack) * max(lengths[groups[-1][0]], 1):
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def stack_mels(
    mels: Sequence[npt.NDArray[np.floating]], *, pad_value: float, tail: int
) -> npt.NDArray[np.float32]:
    """Mels ``(n_mels, frames_i)`` as one batch ``(batch, n_mels, longest + tail)``, every frame
    past an item's own set to ``pad_value``."""
    if not mels:
        raise ValueError("no mels to stack")
    longest = max(mel.shape[-1] for mel in mels)
    out = np.full((len(mels), mels[0].shape[0], longest + tail), pad_value, np.float32)
    for i, mel in enumerate(mels):
        out[i, :, : mel.shape[-1]] = mel
    return out


def pad_mels(
    mel: npt.NDArray[np.floating], lengths: npt.NDArray[np.int64], *, pad_value: float, tail: int
) -> npt.NDArray[np.float32]:
    """``mel`` ``(batch, n_mels, frames)`` cut to the longest length plus ``tail`` frames, every
    frame past an item's own length set to ``pad_value``."""
    batch, n_mels, frames = mel.shape
    longest = int(lengths.max()) if lengths.size else 0
    if longest > frames:
        raise ValueError(f"a mel length ({longest}) exceeds the mel's {frames} frames")
    if not batch:
        return np.full((0, n_mels, tail), pad_value, np.float32)
    items = [mel[i, :, :length] for i, length in enumerate(lengths.tolist())]
    return stack_mels(items, pad_value=pad_value, tail=tail)


def cut_waves(
    audio: npt.NDArray[np.floating], samples: npt.NDArray[np.int64]
) -> list[npt.NDArray[np.float32]]:
    """Row ``i`` of ``audio`` ``(batch, samples)`` cut to ``samples[i]``, each a new array."""
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[0] != len(samples):
        raise ValueError(f"expected audio of shape ({len(samples)}, samples), got {audio.shape}")
    return [np.array(row[:n], np.float32) for row, n in zip(audio, samples.tolist(), strict=True)]
