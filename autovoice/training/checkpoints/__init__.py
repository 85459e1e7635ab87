"""Training checkpoints: saving, listing, verifying, retaining, resuming and naming them.

The rooms: :mod:`~.records` (names, records, errors), :mod:`~.meta` (``meta.json`` and its
checksums), :mod:`~.catalog` (finding, listing, verifying and removing them in a store),
:mod:`~.references` (``runs/x@best``: the checkpoint a user names), :mod:`~.dist` (what saving
needs of torch.distributed), :mod:`~.state` (modules, optimizers and schedulers to files and
back), :mod:`~.resume` (picking one and restoring the RNG) and :mod:`~.manager` (the
:class:`~.manager.CheckpointManager` over them). Only ``state``, ``dist``, ``resume`` and
``manager`` import torch: the command line lists, verifies and names checkpoints without it.
See ``docs/checkpoints.md``.
"""
