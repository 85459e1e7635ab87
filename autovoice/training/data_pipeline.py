"""The design document's ``autovoice.training.data_pipeline``: the training dataloaders under that
module name, and collate functions for trainers that take tuples.

:func:`create_dataloaders`, :func:`preprocess_batch` and :func:`get_dataset_stats` are those of
:mod:`autovoice.training.data` (the dataset class comes from ``data.dataset``: ``voice``,
``paired``, ``augmented`` or a plugin's; ``distributed=True`` shards the training batches per
rank of ``torch.distributed``, and ``set_epoch`` starts an epoch). :func:`get_collate_fn` is
:class:`autovoice.training.loader.TorchCollate` with the batch entries put in a tuple.
See ``docs/api.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from autovoice.config.schema import AudioConfig
from autovoice.data.collate import PAIRED_KEYS, VOICE_KEYS, CollateError
from autovoice.training.data import create_dataloaders, get_dataset_stats, preprocess_batch
from autovoice.training.loader import TorchCollate

__all__ = [
    "TUPLE_KEYS",
    "TupleCollate",
    "create_dataloaders",
    "get_collate_fn",
    "get_dataset_stats",
    "preprocess_batch",
]

_TEXT = ("tokens", "token_lengths")
TUPLE_KEYS: Mapping[str, tuple[str, ...]] = {
    "voice": (*_TEXT, *VOICE_KEYS),
    "augmented": (*_TEXT, *VOICE_KEYS),
    "paired": (*_TEXT, *PAIRED_KEYS),
}
"""The batch entries, in order, of the tuples :func:`get_collate_fn` makes per built-in dataset."""


class TupleCollate:
    """:class:`TorchCollate`'s dict batch as a tuple of the entries named by ``keys``."""

    def __init__(self, keys: Sequence[str], mel_pad: float) -> None:
        self.keys = tuple(keys)
        self.collate = TorchCollate(mel_pad)

    def __call__(self, items: Sequence[Any]) -> tuple[Any, ...]:
        batch = self.collate(items)
        missing = [key for key in self.keys if key not in batch]
        if missing:
            raise CollateError(
                f"tuple collate: the batch has no {', '.join(missing)} (it has "
                f"{', '.join(sorted(batch))}); pass the keys this dataset's batches hold"
            )
        return tuple(batch[key] for key in self.keys)


def get_collate_fn(
    dataset_type: str,
    *,
    as_tuple: bool = True,
    keys: Sequence[str] | None = None,
    mel_pad: float | None = None,
    registry: Any = None,
) -> Callable[[Sequence[Any]], Any]:
    """The collate function for items of the dataset ``dataset_type`` (a dataset plugin's name).

    It pads and stacks items as :func:`create_dataloaders` does (:class:`TorchCollate`); with
    ``as_tuple`` the dict batch becomes a tuple of the entries ``keys`` names, by default
    :data:`TUPLE_KEYS` of the dataset (a plugin's dataset must be given ``keys``). ``mel_pad``
    is the log-mel of padded frames, ``log(audio.log_clamp)`` by default."""
    if registry is None:
        from autovoice.plugins import Registry

        registry = Registry.discover()
    registry.get("dataset", dataset_type)  # an unknown name is an error naming the installed ones
    pad = math.log(AudioConfig().log_clamp) if mel_pad is None else float(mel_pad)
    if not as_tuple:
        return TorchCollate(pad)
    chosen = keys if keys is not None else TUPLE_KEYS.get(dataset_type)
    if chosen is None:
        raise CollateError(
            f"get_collate_fn: keys are needed for the tuples of dataset {dataset_type!r} "
            f"(known without them: {', '.join(TUPLE_KEYS)})"
        )
    if isinstance(chosen, str) or not chosen or not all(isinstance(k, str) for k in chosen):
        raise CollateError(f"get_collate_fn: keys must be a list of entry names, got {chosen!r}")
    return TupleCollate(chosen, pad)
