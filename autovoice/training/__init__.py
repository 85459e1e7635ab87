"""Training (torch): recipes, torch twins of the features, and the checkpoint manager.

The names below are resolved on first use, so importing a torch-free submodule such as
``autovoice.training.checkpoint_catalog`` (the command line lists checkpoints with it) does not
import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CheckpointManager": "autovoice.training.checkpoint",
    "Checkpoint": "autovoice.training.checkpoint_records",
    "CheckpointRecord": "autovoice.training.checkpoint_records",
    "CheckpointError": "autovoice.training.checkpoint_records",
    "CheckpointCorruptError": "autovoice.training.checkpoint_records",
    "CheckpointWriteError": "autovoice.training.checkpoint_records",
    "CheckpointWarning": "autovoice.training.checkpoint_records",
    "NoCheckpointError": "autovoice.training.checkpoint_records",
    "UnsafeCheckpointError": "autovoice.training.checkpoint_records",
    "WeightsReport": "autovoice.training.checkpoint_records",
    "select_retained": "autovoice.training.retention",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'autovoice.training' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
