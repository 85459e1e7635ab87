"""Options of the built-in checkpoint stores (attrs only: cheap to import)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from autovoice.config.fields import setting


@attrs.frozen(kw_only=True)
class FileStoreOptions:
    """The ``[plugins.file]`` table: how the local-disk store writes checkpoints."""

    fsync: bool = setting(
        True,
        doc="Flush each written file and its directory to disk before the write returns, so a "
        "power loss cannot leave a truncated checkpoint. Turn off only for scratch storage.",
    )


def _read_only(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class FsspecStoreOptions:
    """The options of the ``fsspec`` store: how it opens the filesystem and writes keys."""

    storage_options: Mapping[str, Any] = setting(
        doc="Keyword arguments for the fsspec filesystem (credentials, endpoint_url, anon, ...), "
        "as fsspec.filesystem(protocol, **storage_options) takes them.",
        factory=dict,
        converter=_read_only,
    )
    write_via_temporary: bool = setting(
        True,
        doc="Write each key under a temporary name and move it into place, so a reader never "
        "sees part of a key. Object stores (s3, gs, az) upload atomically anyway: turning this "
        "off there saves one server-side copy per file.",
    )
