"""Build a TensorRT engine from an ONNX file: optimization profiles, FP16 with chosen layers
kept in FP32, and a timing cache.

TensorRT is imported inside the functions that need it; the layer matching
(:func:`keeps_fp32`) is pure.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autovoice.errors import BackendError
from autovoice_tensorrt.profiles import Profile, check_network

FLOAT_TYPES = ("FLOAT", "HALF")


class BuildError(BackendError):
    """TensorRT could not parse a model or build its engine; names the file and why."""


def keeps_fp32(name: str, kind: str, patterns: Sequence[str]) -> bool:
    """True when a layer called ``name`` of kind ``kind`` (``NORMALIZATION``, ``SOFTMAX``, …)
    matches one of the shell-style ``patterns``, ignoring case."""
    subjects = (name.lower(), kind.lower())
    return any(fnmatch.fnmatchcase(s, p.lower()) for p in patterns for s in subjects)


def tensorrt_module() -> Any:
    """``tensorrt``, or a :class:`BackendError` saying how to install it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendError(
            "the tensorrt backend needs TensorRT 10 or newer (pip install 'autovoice[tensorrt]' "
            f"from NVIDIA's package index): {exc}"
        ) from exc
    return tensorrt


@functools.lru_cache(maxsize=1)
def trt_logger() -> Any:
    """One logger for the process: TensorRT keeps the first logger it is given."""
    trt = tensorrt_module()
    return trt.Logger(trt.Logger.WARNING)


def build_engine(
    onnx_path: str | os.PathLike[str],
    profiles: Sequence[Profile],
    *,
    fp16: bool = False,
    timing_cache: str | os.PathLike[str] | None = None,
    workspace: int = 2 << 30,
    keep_fp32_layers: Sequence[str] = (),
    precision_constraints: str = "prefer",
    optimization_level: int = 3,
) -> bytes:
    """Parse ``onnx_path`` and build a serialized engine with one optimization profile per item
    of ``profiles`` (each input's min/opt/max shapes). With ``fp16``, layers whose name or kind
    matches ``keep_fp32_layers`` stay in FP32. ``timing_cache`` (a file) is read when present
    and written back with this build's timings. ``workspace`` is in bytes."""
    trt = tensorrt_module()
    path = Path(onnx_path)
    builder = trt.Builder(trt_logger())
    network = builder.create_network(0)  # TensorRT 10: every network is explicit-batch
    _parse(trt, network, path)
    check_network(profiles, network_inputs(network))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace))
    config.builder_optimization_level = int(optimization_level)
    for profile in profiles:
        _add_profile(builder, config, profile, path)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        if keep_layers_fp32(trt, network, keep_fp32_layers):
            config.set_flag(_constraint_flag(trt, precision_constraints))
    cache = _attach_timing_cache(config, timing_cache)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BuildError(f"{path}: TensorRT failed to build an engine (its log above says why)")
    if cache is not None and timing_cache is not None:
        _save_timing_cache(config, Path(timing_cache))
    return bytes(memoryview(serialized))


def _parse(trt: Any, network: Any, path: Path) -> None:
    if not path.is_file():
        raise BuildError(f"{path}: no such ONNX model file")
    parser = trt.OnnxParser(network, trt_logger())
    if parser.parse_from_file(str(path)):
        return
    errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
    raise BuildError(f"{path}: TensorRT cannot parse the model: " + "; ".join(errors))


def network_inputs(network: Any) -> dict[str, tuple[int, ...]]:
    """Input names of a parsed network and their shapes (-1 for a dynamic size)."""
    inputs = (network.get_input(i) for i in range(network.num_inputs))
    return {tensor.name: tuple(int(d) for d in tensor.shape) for tensor in inputs}


def _add_profile(builder: Any, config: Any, profile: Profile, path: Path) -> None:
    opt = builder.create_optimization_profile()
    for name, shapes in profile.inputs:
        opt.set_shape(name, shapes.min, shapes.opt, shapes.max)
    if config.add_optimization_profile(opt) < 0:
        raise BuildError(f"{path}: TensorRT rejected the optimization profile {profile.to_dict()}")


def keep_layers_fp32(trt: Any, network: Any, patterns: Sequence[str]) -> list[str]:
    """Constrain the floating-point layers matching ``patterns`` to FP32; their names."""
    kept = []
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if not keeps_fp32(layer.name, layer.type.name, patterns) or not _floating(layer):
            continue
        layer.precision = trt.float32
        for output in range(layer.num_outputs):
            layer.set_output_type(output, trt.float32)
        kept.append(layer.name)
    return kept


def _floating(layer: Any) -> bool:
    outputs = [layer.get_output(i) for i in range(layer.num_outputs)]
    return bool(outputs) and all(out.dtype.name in FLOAT_TYPES for out in outputs)


def _constraint_flag(trt: Any, mode: str) -> Any:
    if mode == "obey":
        return trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS
    if mode == "prefer":
        return trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS
    raise BackendError(f"precision_constraints must be 'prefer' or 'obey', got {mode!r}")


def _attach_timing_cache(config: Any, path: str | os.PathLike[str] | None) -> Any:
    if path is None:
        return None
    data = Path(path).read_bytes() if Path(path).is_file() else b""
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        cache = config.create_timing_cache(b"")  # made by another GPU or version: start over
        config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def _save_timing_cache(config: Any, path: Path) -> None:
    data = bytes(memoryview(config.get_timing_cache().serialize()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


__all__ = [
    "BuildError",
    "build_engine",
    "keep_layers_fp32",
    "keeps_fp32",
    "network_inputs",
    "tensorrt_module",
    "trt_logger",
]
