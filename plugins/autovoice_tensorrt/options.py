"""Options of the ``tensorrt`` backend (attrs only: importing this never imports tensorrt)."""

from __future__ import annotations

from typing import Any

import attrs

from autovoice.config.fields import Check, as_tuple, between, each, gt, optional, setting

DEFAULT_KEEP_FP32 = (
    "*Normalization",
    "Softmax",
    "LogSoftmax",
    "Exp",
    "Log",
    "Pow",
    "Sqrt",
    "Reciprocal",
    "ReduceMean",
    "ReduceSum",
    "ReduceL2",
    "CumSum",
    "Range",
    "Sin",
    "Cos",
)
"""ONNX op types an FP16 engine runs in FP32: normalizations and reductions (sums of many or
large values), softmax, ``exp``/``log`` (log-durations, log-magnitudes), powers and roots,
cumulative sums of durations, and the positions and sinusoids of positional encodings (integers
above 2048 are not exact in FP16)."""

_TEXT = Check("a non-empty string", lambda v: isinstance(v, str) and v != "")
_BOOL = Check("true or false", lambda v: isinstance(v, bool))


def _is_range(value: Any) -> bool:
    if value == ():
        return True
    return (
        isinstance(value, tuple)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        and value[0] <= value[1] <= value[2]
    )


_RANGE = Check("empty or [min, opt, max] with 0 < min <= opt <= max", _is_range)


def _range(axis: str, when_empty: str) -> Any:
    return setting(
        (),
        doc=f"[min, opt, max] of the {axis} axis in the optimization profile; {when_empty}.",
        checks=[_RANGE],
        converter=as_tuple,
    )


@attrs.frozen(kw_only=True)
class TensorRTOptions:
    """The options table of the ``tensorrt`` backend: how engines are built and cached."""

    fp16: bool | None = setting(
        None,
        doc="Build engines in FP16, from an FP16 copy of the ONNX graph with the nodes matched "
        "by keep_fp32_ops in FP32 (TensorRT's strongly typed networks); unset follows "
        "[export] fp16.",
        checks=[optional(_BOOL)],
    )
    keep_fp32_ops: tuple[str, ...] = setting(
        DEFAULT_KEEP_FP32,
        doc="Patterns (shell-style, case-insensitive) of ONNX op types or node names that an "
        "FP16 engine runs in FP32: normalizations, reductions, softmax, exp and log overflow "
        "or lose precision in FP16.",
        checks=[Check("a list", lambda v: isinstance(v, tuple)), each(_TEXT)],
        converter=as_tuple,
    )
    workspace_mb: int = setting(
        2048,
        doc="Scratch GPU memory the builder's kernels may use (its workspace pool), in MiB.",
        checks=[gt(0)],
    )
    builder_optimization_level: int = setting(
        3,
        doc="How long the builder searches for fast kernels: 0 (fast build) to 5 (fastest engine).",
        checks=[between(0, 5)],
    )
    engine_cache_dir: str = setting(
        "",
        doc="Directory of built engines, keyed by ONNX checksum, TensorRT version, GPU, "
        "profiles and precision; empty uses $XDG_CACHE_HOME/autovoice/engines.",
    )
    timing_cache: bool = setting(
        True, doc="Reuse kernel timings between builds (a timing cache file)."
    )
    timing_cache_path: str = setting(
        "",
        doc="Timing cache file; empty keeps one per TensorRT version and GPU in engine_cache_dir.",
    )
    build: bool = setting(
        True,
        doc="Build an engine when an .onnx model has none cached; false makes a missing "
        "engine an error (for servers that must not spend minutes building).",
    )
    batch: tuple[int, ...] = _range("batch", "empty follows [export] batch_min/opt/max")
    tokens: tuple[int, ...] = _range(
        "tokens (text length)", "empty follows [export] tokens_min/opt/max"
    )
    frames: tuple[int, ...] = _range(
        "frames (mel length)", "empty follows [export] frames_min/opt/max"
    )
    samples: tuple[int, ...] = _range(
        "samples (waveform length)", "needed only by a graph that takes a waveform as input"
    )
    split_time_at: tuple[int, ...] = setting(
        (),
        doc="Lengths at which the time axes (tokens, frames, samples) are split into "
        "separate optimization profiles, each tuned for its own range; empty for one profile.",
        checks=[Check("a list", lambda v: isinstance(v, tuple)), each(gt(0))],
        converter=as_tuple,
    )


__all__ = ["DEFAULT_KEEP_FP32", "TensorRTOptions"]
