"""Training (torch): the generic trainer, recipes, dataloaders, torch twins of the features,
and the checkpoint manager.

The names below are resolved on first use, so importing a torch-free submodule such as
``autovoice.training.checkpoints.catalog`` (the command line lists checkpoints with it) does not
import torch.
"""

from __future__ import annotations

from typing import Any

from autovoice._lazy import lazy_export

_EXPORTS = {
    "CheckpointManager": "autovoice.training.checkpoints.manager",
    "Checkpoint": "autovoice.training.checkpoints.records",
    "CheckpointRecord": "autovoice.training.checkpoints.records",
    "CheckpointError": "autovoice.training.checkpoints.records",
    "CheckpointCorruptError": "autovoice.training.checkpoints.records",
    "CheckpointWriteError": "autovoice.training.checkpoints.records",
    "CheckpointWarning": "autovoice.training.checkpoints.records",
    "NoCheckpointError": "autovoice.training.checkpoints.records",
    "UnsafeCheckpointError": "autovoice.training.checkpoints.records",
    "WeightsReport": "autovoice.training.checkpoints.records",
    "select_retained": "autovoice.training.retention",
    "Trainer": "autovoice.training.trainer",
    "TrainingError": "autovoice.training.trainer",
    "build_trainer": "autovoice.training.build",
    "Recipe": "autovoice.training.recipe",
    "OptimizerSpec": "autovoice.training.recipe",
    "TrainStep": "autovoice.training.recipe",
    "create_dataloaders": "autovoice.training.data",
    "preprocess_batch": "autovoice.training.data",
    "get_dataset_stats": "autovoice.training.data",
    "LogMel": "autovoice.training.features",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return lazy_export(__name__, _EXPORTS, name)
