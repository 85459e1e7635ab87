"""Build a TensorRT engine from an ONNX file: a strongly typed network, optimization profiles,
and a timing cache.

TensorRT 10.12 deprecated weak typing and TensorRT 11 removed it (``BuilderFlag.FP16``, the
precision-constraint flags, ``ILayer.precision``, ``ILayer.set_output_type``). So every network
is strongly typed (``NetworkDefinitionCreationFlag.STRONGLY_TYPED``, which 11 keeps and
ignores) and its precision comes from the graph: an FP16 engine is built from an FP16 copy of
the ONNX graph with the fragile nodes kept in FP32 (:mod:`autovoice_tensorrt.fp16`). No
precision flag is set and no layer is touched.

TensorRT is imported inside the functions that need it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autovoice.bundle.external import check_external_data
from autovoice.errors import AutovoiceError, BackendError
from autovoice_tensorrt.fp16 import fp16_bytes
from autovoice_tensorrt.options import DEFAULT_KEEP_FP32
from autovoice_tensorrt.probe import version_problem
from autovoice_tensorrt.profiles import Profile, check_network


class BuildError(BackendError):
    """TensorRT could not parse a model or build its engine; names the file and why."""


def tensorrt_module() -> Any:
    """``tensorrt`` of a supported version, or a :class:`BackendError` saying what to install."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendError(
            "the tensorrt backend needs TensorRT 10.12 or newer (pip install "
            f"'autovoice[tensorrt]'): {exc}"
        ) from exc
    problem = version_problem(str(getattr(tensorrt, "__version__", "")))
    if problem:
        raise BackendError(f"the tensorrt backend {problem}")
    return tensorrt


@functools.lru_cache(maxsize=1)
def trt_logger() -> Any:
    """One logger for the process: TensorRT keeps the first logger it is given."""
    trt = tensorrt_module()
    return trt.Logger(trt.Logger.WARNING)


def network_flags(trt: Any) -> int:
    """The flags of a strongly typed network: required on 10.12 to 10.x, ignored by 11."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def build_engine(
    onnx_path: str | os.PathLike[str],
    profiles: Sequence[Profile],
    *,
    fp16: bool = False,
    timing_cache: str | os.PathLike[str] | None = None,
    workspace: int = 2 << 30,
    keep_fp32_ops: Sequence[str] = DEFAULT_KEEP_FP32,
    optimization_level: int = 3,
) -> bytes:
    """Parse ``onnx_path`` into a strongly typed network and build a serialized engine with one
    optimization profile per item of ``profiles`` (each input's min/opt/max shapes). With
    ``fp16`` the network is an FP16 copy of the graph, nodes matching ``keep_fp32_ops`` in FP32.
    ``timing_cache`` (a file) is read when present and written back with this build's timings.
    ``workspace`` is in bytes."""
    trt = tensorrt_module()
    path = Path(onnx_path)
    if not path.is_file():
        raise BuildError(f"{path}: no such ONNX model file")
    try:  # before the FP16 copy loads them, or the parser does
        check_external_data(path)
    except AutovoiceError as exc:
        raise BuildError(str(exc)) from None
    builder = trt.Builder(trt_logger())
    network = builder.create_network(network_flags(trt))
    _parse(trt, network, path, fp16_bytes(str(path), keep_fp32_ops) if fp16 else None)
    check_network(profiles, network_inputs(network))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace))
    config.builder_optimization_level = int(optimization_level)
    for profile in profiles:
        _add_profile(builder, config, profile, path)
    cache = _attach_timing_cache(config, timing_cache)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BuildError(f"{path}: TensorRT failed to build an engine (its log above says why)")
    if cache is not None and timing_cache is not None:
        _save_timing_cache(config, Path(timing_cache))
    return bytes(memoryview(serialized))


def _parse(trt: Any, network: Any, path: Path, data: bytes | None) -> None:
    """Parse the file at ``path``, or ``data`` (its FP16 copy) when given."""
    parser = trt.OnnxParser(network, trt_logger())
    parsed = parser.parse_from_file(str(path)) if data is None else parser.parse(data, str(path))
    if parsed:
        return
    errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
    what = "the model" if data is None else "the model's FP16 copy"
    raise BuildError(f"{path}: TensorRT cannot parse {what}: " + "; ".join(errors))


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
    "network_flags",
    "network_inputs",
    "tensorrt_module",
    "trt_logger",
]
