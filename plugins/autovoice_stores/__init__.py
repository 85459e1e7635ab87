"""Built-in checkpoint stores: ``file`` (a local directory) and ``memory`` (process-local).

Importing this module is cheap: the stores themselves live in submodules that
:meth:`autovoice.specs.PluginSpec.load` imports on first use.
"""

from __future__ import annotations

from autovoice.hookspecs import hookimpl
from autovoice.specs import StoreSpec
from autovoice_stores.options import FileStoreOptions

__all__ = ["FileStoreOptions", "autovoice_checkpoint_stores"]


@hookimpl
def autovoice_checkpoint_stores() -> list[StoreSpec]:
    return [
        StoreSpec(
            name="file",
            factory="autovoice_stores.local:LocalStore",
            schemes=("file",),
            options_type=FileStoreOptions,
            description="Checkpoints in a local directory (a plain path or a file:// URI); "
            "atomic writes by rename.",
        ),
        StoreSpec(
            name="memory",
            factory="autovoice_stores.memory:MemoryStore",
            schemes=("memory",),
            description="Checkpoints in this process's memory (memory://NAME), for tests and "
            "programs; stores with the same URI share their keys.",
        ),
    ]
