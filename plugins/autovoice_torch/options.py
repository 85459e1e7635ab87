"""Options of the ``pytorch`` backend (attrs only: importing this never imports torch)."""

from __future__ import annotations

import attrs

from autovoice.config.fields import WHOLE, ge, setting


@attrs.frozen(kw_only=True)
class TorchOptions:
    """The ``[plugins.pytorch]`` table: how stages run in PyTorch."""

    threads: int = setting(
        0,
        doc="CPU threads of PyTorch's operators (torch.set_num_threads, process-wide); 0 leaves "
        "PyTorch's default (one per core).",
        checks=[WHOLE, ge(0)],
    )


__all__ = ["TorchOptions"]
