"""The backend's options: the keys a user may write under ``[inference.options]``."""

from __future__ import annotations

import attrs

from autovoice.config.fields import between, setting


@attrs.frozen(kw_only=True)
class ReferenceOptions:
    """Options of the ``onnx_reference`` backend. Every field has a default."""

    verbose: int = setting(
        0,
        doc="How much the evaluator prints while it runs: 0 nothing, 4 every intermediate result.",
        checks=[between(0, 4)],
    )
    check_model: bool = setting(
        True,
        doc="Check the graph with onnx.checker when it is loaded, before running anything.",
    )
