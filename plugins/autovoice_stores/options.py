"""Options of the built-in ``file`` checkpoint store (attrs only: cheap to import)."""

from __future__ import annotations

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
