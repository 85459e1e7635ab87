"""Dynamic time warping of mel spectrograms, in numpy. Pure.

The path joins ``(0, 0)`` to ``(N - 1, M - 1)`` with steps ``(1, 0)``, ``(0, 1)`` and ``(1, 1)``,
minimizing the summed frame distance. Accumulation runs along anti-diagonals, each one
vectorized, so an utterance pair of a few hundred frames aligns in milliseconds.
"""

from __future__ import annotations

import numpy as np


def frame_distances(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(N, M)`` between the frames of ``(C, N)`` and ``(C, M)`` features,
    each first centred on its own mean (removing a speaker's overall spectral tilt)."""
    a = source.astype(np.float64).T
    b = target.astype(np.float64).T
    a -= a.mean(axis=0)
    b -= b.mean(axis=0)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.asarray(np.sqrt(np.maximum(squared, 0.0)))


def accumulate(cost: np.ndarray) -> np.ndarray:
    """``D`` of shape ``(N + 1, M + 1)``: ``D[i, j]`` is the cheapest path cost to cell
    ``(i - 1, j - 1)``; row and column 0 are the infinite border (``D[0, 0] = 0``)."""
    n, m = cost.shape
    if n == 0 or m == 0:
        raise ValueError(f"cannot align empty sequences (cost matrix {cost.shape})")
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    for diagonal in range(2, n + m + 1):
        i = np.arange(max(1, diagonal - m), min(n, diagonal - 1) + 1)
        j = diagonal - i
        best = np.minimum(np.minimum(total[i - 1, j], total[i, j - 1]), total[i - 1, j - 1])
        total[i, j] = cost[i - 1, j - 1] + best
    return total


def dtw_path(cost: np.ndarray) -> np.ndarray:
    """The cheapest monotonic path through ``cost`` ``(N, M)``: ``(K, 2)`` int64 index pairs."""
    total = accumulate(np.asarray(cost, dtype=np.float64))
    i, j = total.shape[0] - 1, total.shape[1] - 1
    path = [(i - 1, j - 1)]
    while (i, j) != (1, 1):
        moves = ((i - 1, j - 1), (i - 1, j), (i, j - 1))  # diagonal first on ties
        i, j = min(moves, key=lambda cell: total[cell])
        path.append((i - 1, j - 1))
    return np.array(path[::-1], dtype=np.int64)


def warp_to_source(path: np.ndarray, target: np.ndarray, n_source: int) -> np.ndarray:
    """``target`` ``(C, M)`` resampled onto the source's ``n_source`` frames along ``path``:
    each source frame gets the mean of the target frames the path matches to it."""
    sums = np.zeros((target.shape[0], n_source), dtype=np.float64)
    np.add.at(sums.T, path[:, 0], target[:, path[:, 1]].T.astype(np.float64))
    counts = np.bincount(path[:, 0], minlength=n_source)
    return (sums / counts[None, :]).astype(target.dtype)


def align_to_source(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``target`` mel aligned to ``source``'s frames by DTW, and the path used."""
    path = dtw_path(frame_distances(source, target))
    return warp_to_source(path, target, source.shape[1]), path
