"""Options of the ``onnxruntime`` backend (attrs only: importing this never imports onnxruntime)."""

from __future__ import annotations

import attrs

from autovoice.config.fields import A_LIST, WHOLE, Check, as_tuple, each, ge, one_of, setting

GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")

_TEXT = Check("a non-empty string", lambda v: isinstance(v, str) and v != "")
_BOOL = Check("true or false", lambda v: isinstance(v, bool))


@attrs.frozen(kw_only=True)
class OnnxRuntimeOptions:
    """The ``[plugins.onnxruntime]`` table: how sessions are built."""

    intra_op_threads: int = setting(
        0,
        doc="Threads one operator may use; 0 lets onnxruntime choose (one per physical core).",
        checks=[WHOLE, ge(0)],
    )
    inter_op_threads: int = setting(
        0,
        doc="Threads for running independent operators in parallel; 0 lets onnxruntime choose.",
        checks=[WHOLE, ge(0)],
    )
    spinning: bool = setting(
        False,
        doc="Let onnxruntime's idle intra-op threads spin, waiting for work, after each run "
        "(its own default) instead of sleeping; off, they leave the CPU to the numpy work "
        "between runs (Griffin-Lim, the text front end), which measured faster here.",
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
        checks=[A_LIST, each(_TEXT)],
        converter=as_tuple,
    )
    tensorrt: bool = setting(
        False,
        doc="On a CUDA device, run through ONNX Runtime's TensorRT execution provider first "
        "(then CUDA, then the CPU), as device tensorrt does; needs onnxruntime-gpu and TensorRT.",
        checks=[_BOOL],
    )
    trt_fp16: bool = setting(
        False,
        doc="TensorRT provider: let it build FP16 engines (trt_fp16_enable). TensorRT 11 removed "
        "the builder's FP16 flag (strongly typed networks only), so with it this may do nothing.",
        checks=[_BOOL],
    )
    trt_engine_cache: bool = setting(
        True,
        doc="TensorRT provider: keep its engines and kernel timings on disk and reuse them, "
        "so that a session does not rebuild on every start (trt_engine_cache_enable, "
        "trt_timing_cache_enable).",
        checks=[_BOOL],
    )
    trt_cache_dir: str = setting(
        "",
        doc="TensorRT provider: the directory of those engines and timings; empty uses "
        "$XDG_CACHE_HOME/autovoice/onnxruntime-tensorrt.",
        checks=[Check("a string", lambda v: isinstance(v, str))],
    )
    trt_workspace_mb: int = setting(
        0,
        doc="TensorRT provider: scratch GPU memory its builder may use, in MiB "
        "(trt_max_workspace_size); 0 keeps the provider's default.",
        checks=[WHOLE, ge(0)],
    )
    preload_dlls: bool = setting(
        True,
        doc="Before the first CUDA or TensorRT session, load the CUDA and cuDNN libraries of the "
        "NVIDIA Python packages with onnxruntime.preload_dlls() (onnxruntime-gpu 1.21 and newer; "
        "skipped where it is missing).",
        checks=[_BOOL],
    )


__all__ = ["GRAPH_OPTIMIZATIONS", "OnnxRuntimeOptions"]
