"""Deterministic train / validation / test splits. Pure.

Items are grouped by a split key (the utterance id; for paired data, the sentence, so that a
sentence never appears in two splits). Groups are ranked by a hash of ``(seed, key)``; the first
groups in that order go to validation until it holds ``val_fraction`` of the items, the next to
test, the rest to training. The split depends only on the keys and the seed: not on the order of
the corpus, and adding utterances moves few others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import attrs


@attrs.frozen(kw_only=True)
class Splits:
    """Item indices of each split, ascending."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    def as_dict(self) -> dict[str, tuple[int, ...]]:
        return {"train": self.train, "val": self.val, "test": self.test}


def key_rank(seed: int, key: str) -> str:
    return hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=16).hexdigest()


def _wanted(n_items: int, fraction: float) -> int:
    if fraction <= 0:
        return 0
    return max(1, round(n_items * fraction))


def split_indices(
    keys: Sequence[str], *, val_fraction: float, test_fraction: float, seed: int
) -> Splits:
    """Split ``range(len(keys))``; each non-zero fraction gets at least one group while at least
    one group is left for training."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    ranked = sorted(groups, key=lambda k: key_rank(seed, k))
    taken: dict[str, list[int]] = {"val": [], "test": []}
    position = 0
    for split, fraction in (("val", val_fraction), ("test", test_fraction)):
        want = _wanted(len(keys), fraction)
        while len(taken[split]) < want and position < len(ranked) - 1:
            taken[split] += groups[ranked[position]]
            position += 1
    train = [i for key in ranked[position:] for i in groups[key]]
    return Splits(
        train=tuple(sorted(train)),
        val=tuple(sorted(taken["val"])),
        test=tuple(sorted(taken["test"])),
    )
