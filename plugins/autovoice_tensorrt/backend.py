"""The tensorrt backend: ONNX models become cached engines; engines load directly.

This module imports nothing heavy at import time either; tensorrt and cuda-python are imported
when a model is loaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from autovoice.config.schema import ExportConfig
from autovoice.errors import BackendError
from autovoice.inference.checks import artifact_file
from autovoice.signature import GraphSignature, TensorSpec
from autovoice_tensorrt.build import build_engine, tensorrt_module, trt_logger
from autovoice_tensorrt.cache import (
    EngineKey,
    EngineRecord,
    GpuIdentity,
    incompatibility,
    timing_cache_name,
)
from autovoice_tensorrt.device import Cuda
from autovoice_tensorrt.engine import TensorRTSession, deserialize
from autovoice_tensorrt.fp16 import FORMAT as FP16_FORMAT
from autovoice_tensorrt.options import TensorRTOptions
from autovoice_tensorrt.profiles import (
    AxisRange,
    Profile,
    bounds_from_config,
    compute_profiles,
    override_bounds,
    split_bounds,
)
from autovoice_tensorrt.store import (
    CachedEngine,
    EngineStore,
    default_cache_dir,
    file_sha256,
    read_sidecar,
    shipped_engine,
)

ENGINE_SUFFIXES = (".plan", ".engine", ".trt")


def artifact_path(artifact: str | os.PathLike[str]) -> Path:
    """``artifact`` as an existing file: an ``.onnx`` model or an engine (``.plan``)."""
    loads = "an .onnx model or a .plan engine"
    path = artifact_file(artifact, backend="tensorrt", what="model", loads=loads)
    if path.suffix.lower() not in (".onnx", *ENGINE_SUFFIXES):
        raise BackendError(
            f"{path}: the tensorrt backend loads .onnx models and engines "
            f"({', '.join(ENGINE_SUFFIXES)}), not {path.suffix or 'files without a suffix'}"
        )
    return path


def cuda_index(device: str) -> int:
    """The GPU index of ``cuda``, ``cuda:N`` or ``auto``; any other device is an error."""
    kind, _, index = str(device).partition(":")
    if kind in ("cuda", "auto") and (not index or (kind == "cuda" and index.isdigit())):
        return int(index) if index else 0
    raise BackendError(
        f"tensorrt backend: runs on CUDA GPUs only; device must be cuda or cuda:N, got {device!r}"
    )


def precision_of(options: TensorRTOptions, export: Any) -> str:
    """``fp16`` or ``fp32``: the option when set, else the ``[export]`` section's ``fp16``."""
    fp16 = options.fp16 if options.fp16 is not None else bool(getattr(export, "fp16", False))
    return "fp16" if fp16 else "fp32"


def axis_bounds(options: TensorRTOptions, export: Any) -> list[dict[str, AxisRange]]:
    """The axis ranges of each profile: ``[export]`` (or its defaults), overridden by the
    options' ranges, split at ``split_time_at``."""
    base = bounds_from_config(export if export is not None else ExportConfig())
    overrides = {
        "batch": options.batch,
        "tokens": options.tokens,
        "frames": options.frames,
        "samples": options.samples,
    }
    return split_bounds(override_bounds(base, overrides), options.split_time_at)


def build_options(options: TensorRTOptions, precision: str) -> dict[str, Any]:
    """The options that change an engine's kernels: part of its cache key."""
    out: dict[str, Any] = {
        "builder_optimization_level": options.builder_optimization_level,
        "workspace_mb": options.workspace_mb,
        "network": "strongly-typed",
    }
    if precision == "fp16":
        out["keep_fp32_ops"] = list(options.keep_fp32_ops)
        out["fp16_graph"] = FP16_FORMAT
    return out


def wanted_precision(options: TensorRTOptions) -> str | None:
    """The precision the options ask for, None when they leave it to the voice or export."""
    return None if options.fp16 is None else ("fp16" if options.fp16 else "fp32")


class TensorRTBackend:
    """Runs ONNX models and engines with TensorRT on a CUDA GPU."""

    name = "tensorrt"

    def __init__(self, options: TensorRTOptions | None = None) -> None:
        self.options = options if options is not None else TensorRTOptions()

    @property
    def cache_dir(self) -> Path:
        return Path(self.options.engine_cache_dir or default_cache_dir())

    def load(
        self,
        artifact: str | os.PathLike[str],
        device: str = "cuda",
        *,
        stage: Any = None,
        export: Any = None,
        signature: GraphSignature | None = None,
        **_: Any,
    ) -> TensorRTSession:
        """Open ``artifact`` on ``device``. For an ``.onnx`` model, an engine the voice ships
        for this stage (``stage.engines``) built for this TensorRT and GPU is used as it is;
        else one is reused from the cache or built, with profiles from the signature
        (``signature``, else the ``stage``'s, else read from the model) and the ``export``
        section's ranges. An engine file is loaded as it is."""
        path = artifact_path(artifact)
        index = cuda_index(device)
        trt, cuda = tensorrt_module(), Cuda()
        cuda.set_device(index)
        gpu = cuda.gpu(index)
        signature = signature or getattr(stage, "signature", None)
        if path.suffix.lower() == ".onnx":
            signature = signature or signature_from_onnx(path)
            engines = tuple(getattr(stage, "engines", ()))
            cached = shipped_engine(
                engines,
                tensorrt=str(trt.__version__),
                gpu=gpu,
                precision=wanted_precision(self.options),
            ) or self.prepare(
                path,
                signature=signature,
                export=export,
                gpu=gpu,
                stage=_stage_name(stage, path),
                like=VoiceEngines.of(engines),
            )
            data, where = cached.data, cached.plan
            record: EngineRecord | None = cached.record
        else:
            data, record, where = path.read_bytes(), read_sidecar(path), path
            self._check_engine(path, record, tensorrt=str(trt.__version__), gpu=gpu)
        runtime, engine = deserialize(data, trt=trt, logger=trt_logger(), where=str(where))
        return TensorRTSession(
            engine,
            cuda=cuda,
            trt=trt,
            device_index=index,
            path=str(where),
            record=record,
            signature=signature,
            runtime=runtime,
            gpu=gpu,
        )

    def _check_engine(
        self, path: Path, record: EngineRecord | None, *, tensorrt: str, gpu: GpuIdentity
    ) -> None:
        """Refuse an engine file built elsewhere, or in another precision than asked for."""
        if record is None:
            return
        why = incompatibility(record, tensorrt=tensorrt, gpu=gpu)
        wanted = wanted_precision(self.options)
        if why is None and wanted is not None and record.precision != wanted:
            why = f"it is an {record.precision} engine and the options ask for {wanted} (fp16)"
        if why:
            raise BackendError(f"{path}: cannot load this engine: {why}; rebuild it")

    def engine_key(
        self,
        onnx: Path,
        *,
        signature: GraphSignature,
        export: Any,
        gpu: GpuIdentity,
        like: VoiceEngines | None = None,
    ) -> EngineKey:
        """The cache key of the engine ``onnx`` becomes on ``gpu`` with these settings. ``like``
        (the settings of the engines a voice ships) gives the precision when the options leave
        it unset, and the profiles when the options set no axis range."""
        like = like or VoiceEngines()
        precision = (
            wanted_precision(self.options) or like.precision or precision_of(self.options, export)
        )
        profiles: tuple[Profile, ...] = (
            like.profiles
            if like.profiles and not _sets_axes(self.options)
            else compute_profiles(signature, axis_bounds(self.options, export))
        )
        return EngineKey(
            onnx_sha256=file_sha256(onnx),
            tensorrt=str(tensorrt_module().__version__),
            gpu=gpu,
            profiles=profiles,
            precision=precision,
            options=build_options(self.options, precision),
        )

    def prepare(
        self,
        onnx: Path,
        *,
        signature: GraphSignature,
        export: Any = None,
        gpu: GpuIdentity,
        stage: str | None = None,
        like: VoiceEngines | None = None,
    ) -> CachedEngine:
        """The engine of ``onnx``: from the cache, from an ``engines/`` folder beside the model
        (a voice bundle's), or built now and cached (see :meth:`engine_key` for ``like``)."""
        key = self.engine_key(onnx, signature=signature, export=export, gpu=gpu, like=like)
        for store in (EngineStore(self.cache_dir), EngineStore(onnx.parent / "engines")):
            found = store.lookup(key)
            if found is not None:
                return found
        if not self.options.build:
            raise BackendError(
                f"{onnx}: no engine built for this model, GPU and settings (key {key.digest[:12]}) "
                f"in {self.cache_dir}, and building on load is off (option build = false)"
            )
        data = build_engine(
            onnx,
            key.profiles,
            fp16=key.precision == "fp16",
            timing_cache=self._timing_cache(key),
            workspace=self.options.workspace_mb << 20,
            keep_fp32_ops=self.options.keep_fp32_ops,
            optimization_level=self.options.builder_optimization_level,
        )
        return EngineStore(self.cache_dir).save(key, data, stage=stage)

    def _timing_cache(self, key: EngineKey) -> Path | None:
        if not self.options.timing_cache:
            return None
        if self.options.timing_cache_path:
            return Path(self.options.timing_cache_path)
        return self.cache_dir / timing_cache_name(key.tensorrt, key.gpu)


@attrs.frozen
class VoiceEngines:
    """What the engines a voice ships for a stage share: their precision and profiles (None
    where they differ or there are none), for an engine built where none of them runs."""

    precision: str | None = None
    profiles: tuple[Profile, ...] | None = None

    @classmethod
    def of(cls, engines: Sequence[Any]) -> VoiceEngines:
        precisions = {str(e.precision) for e in engines}
        tables = {json.dumps(list(e.profiles), sort_keys=True) for e in engines}
        profiles = None
        if len(tables) == 1:
            try:
                profiles = tuple(Profile.from_dict(p) for p in engines[0].profiles)
            except (KeyError, TypeError, ValueError, AttributeError):
                profiles = None  # a malformed entry: the settings of this backend decide
        precision = precisions.pop() if len(precisions) == 1 else None
        return cls(precision if precision in ("fp16", "fp32") else None, profiles or None)


def _sets_axes(options: TensorRTOptions) -> bool:
    ranges = (options.batch, options.tokens, options.frames, options.samples)
    return any(ranges) or bool(options.split_time_at)


def _stage_name(stage: Any, path: Path) -> str:
    """The stage's name when it has one, else the model file's stem (``acoustic``)."""
    name = getattr(stage, "name", None)
    return name if isinstance(name, str) else path.stem


_ONNX_DTYPES: Mapping[int, str] = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 9: "bool"}


def signature_from_onnx(path: Path) -> GraphSignature:
    """The signature declared in an ONNX file (dynamic sizes by their ``dim_param`` names);
    needs the ``onnx`` package. Used when a model comes without its signature."""
    try:
        import onnx
    except ImportError:
        raise BackendError(
            f"{path}: give the model's signature (a voice bundle stage), or install onnx so it "
            "can be read from the model"
        ) from None
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    inputs = tuple(_spec(v, path) for v in graph.input if v.name not in initializers)
    return GraphSignature(inputs, tuple(_spec(v, path) for v in graph.output))


def _spec(value: Any, path: Path) -> TensorSpec:
    tensor = value.type.tensor_type
    dtype = _ONNX_DTYPES.get(tensor.elem_type)
    if dtype is None:
        raise BackendError(f"{path}: tensor {value.name!r} has an unsupported element type")
    dims: list[int | str] = []
    for axis, dim in enumerate(tensor.shape.dim):
        if dim.dim_param:
            dims.append(dim.dim_param)
        elif dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        else:
            raise BackendError(f"{path}: tensor {value.name!r} axis {axis} has no size or name")
    return TensorSpec(value.name, dtype, tuple(dims))


__all__ = [
    "TensorRTBackend",
    "VoiceEngines",
    "artifact_path",
    "axis_bounds",
    "build_options",
    "cuda_index",
    "precision_of",
    "signature_from_onnx",
    "wanted_precision",
]
