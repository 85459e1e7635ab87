"""Training (torch): the generic trainer, recipes, dataloaders, torch twins of the features,
and the checkpoint manager.

The names below are resolved on first use, so importing a torch-free submodule such as
``autovoice.training.checkpoints.catalog`` (the command line lists checkpoints with it) does not
import torch.
"""

from __future__ import annotations

from typing import Any

from autovoice._lazy import by_module, lazy_export

_EXPORTS = by_module(
    {
        "autovoice.training.checkpoints.manager": ("CheckpointManager",),
        "autovoice.training.checkpoints.records": (
            "Checkpoint",
            "CheckpointRecord",
            "CheckpointError",
            "CheckpointCorruptError",
            "CheckpointWriteError",
            "CheckpointWarning",
            "NoCheckpointError",
            "UnsafeCheckpointError",
            "WeightsReport",
        ),
        "autovoice.training.retention": ("select_retained",),
        "autovoice.training.trainer": ("Trainer", "TrainingError"),
        "autovoice.training.build": ("build_trainer",),
        "autovoice.training.recipe": ("Recipe", "RecipeInputs", "OptimizerSpec", "TrainStep"),
        "autovoice.training.data": ("create_dataloaders", "preprocess_batch", "get_dataset_stats"),
        "autovoice.training.features": ("LogMel",),
    }
)

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return lazy_export(__name__, _EXPORTS, name)
