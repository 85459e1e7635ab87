"""Options of the ``onnxruntime`` backend (attrs only: importing this never imports onnxruntime)."""

from __future__ import annotations

import attrs

from autovoice.config.fields import Check, each, ge, one_of, setting

GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")

_WHOLE = Check("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool))
_TEXT = Check("a non-empty string", lambda v: isinstance(v, str) and v != "")


def _as_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@attrs.frozen(kw_only=True)
class OnnxRuntimeOptions:
    """The ``[plugins.onnxruntime]`` table: how sessions are built."""

    intra_op_threads: int = setting(
        0,
        doc="Threads one operator may use; 0 lets onnxruntime choose (one per physical core).",
        checks=[_WHOLE, ge(0)],
    )
    inter_op_threads: int = setting(
        0,
        doc="Threads for running independent operators in parallel; 0 lets onnxruntime choose.",
        checks=[_WHOLE, ge(0)],
    )
    graph_optimization: str = setting(
        "all",
        doc="How much onnxruntime rewrites the graph when loading it: "
        '"disable", "basic", "extended" or "all" (slower to load, faster to run).',
        checks=[one_of(*GRAPH_OPTIMIZATIONS)],
    )
    providers: tuple[str, ...] = setting(
        (),
        doc="Execution providers to use, in order of preference (for example "
        '["CUDAExecutionProvider", "CPUExecutionProvider"]); when set it overrides the '
        "provider list chosen from the device.",
        checks=[Check("a list", lambda v: isinstance(v, tuple)), each(_TEXT)],
        converter=_as_tuple,
    )


__all__ = ["GRAPH_OPTIMIZATIONS", "OnnxRuntimeOptions"]
