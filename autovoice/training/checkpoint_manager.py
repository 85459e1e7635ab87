"""The design document's ``autovoice.training.checkpoint_manager``: the checkpoint manager under
that module name.

:class:`CheckpointManager` is
:class:`autovoice.training.checkpoints.manager.CheckpointManager` itself (not a copy):
``CheckpointManager(checkpoint_dir, max_keep, keep_best, metric_name)``, ``save``, ``load``,
``load_best``, ``load_latest``, ``list_checkpoints``, ``cleanup_old_checkpoints`` and
``resume_from_checkpoint`` are its methods. ``best_checkpoint.pt`` and ``latest_checkpoint.pt``
at the end of a path name the best and the newest checkpoint of that folder
(:data:`~autovoice.training.checkpoints.manager.ALIASES`). See ``docs/api.md``.
"""

from __future__ import annotations

from autovoice.training.checkpoints.manager import ALIASES, CheckpointManager
from autovoice.training.checkpoints.records import (
    Checkpoint,
    CheckpointError,
    CheckpointRecord,
    NoCheckpointError,
)

__all__ = [
    "ALIASES",
    "Checkpoint",
    "CheckpointError",
    "CheckpointManager",
    "CheckpointRecord",
    "NoCheckpointError",
]
