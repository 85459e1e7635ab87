"""Built-in checkpoint stores: ``file`` (a local directory) and ``fsspec`` (any fsspec URI).

Importing this module is cheap: the stores themselves live in submodules that
:meth:`autovoice.specs.PluginSpec.load` imports on first use.
"""

from __future__ import annotations

from autovoice.hookspecs import hookimpl
from autovoice.specs import Requirement, StoreSpec
from autovoice_stores.options import FileStoreOptions, FsspecStoreOptions

__all__ = [
    "FSSPEC_SCHEMES",
    "FileStoreOptions",
    "FsspecStoreOptions",
    "autovoice_checkpoint_stores",
]

#: The URI schemes the ``fsspec`` store claims. Any other fsspec protocol works too when the
#: store is named explicitly (``[checkpoint] store = "fsspec"``).
FSSPEC_SCHEMES = (
    "memory",
    "s3",
    "s3a",
    "gs",
    "gcs",
    "az",
    "abfs",
    "abfss",
    "adl",
    "hdfs",
    "webhdfs",
    "sftp",
    "ssh",
    "ftp",
    "smb",
    "oss",
    "dbfs",
)


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
            name="fsspec",
            factory="autovoice_stores.remote:FsspecStore",
            schemes=FSSPEC_SCHEMES,
            options_type=FsspecStoreOptions,
            requires=(Requirement(module="fsspec"),),
            description="Checkpoints at any fsspec URI (memory://, s3://, gs://, sftp://, ...); "
            "the protocol's own package (s3fs, gcsfs, ...) must be installed.",
        ),
    ]
