"""The onnxruntime backend: opens ONNX files as sessions on a device.

This module imports onnxruntime; :mod:`autovoice_onnxruntime` (the plugin entry) does not.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

from autovoice.bundle.external import check_external_data
from autovoice.errors import AutovoiceError
from autovoice.inference.checks import artifact_file, threads
from autovoice_onnxruntime.errors import BackendError
from autovoice_onnxruntime.options import OnnxRuntimeOptions
from autovoice_onnxruntime.session import OnnxRuntimeSession

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

#: device kind -> execution providers to ask for, best first
DEVICE_PROVIDERS: dict[str, tuple[str, ...]] = {
    "cpu": (CPU,),
    "cuda": (CUDA, CPU),
    "tensorrt": (TENSORRT, CUDA, CPU),
}

_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


class OnnxRuntimeBackend:
    """Runs ONNX graphs with onnxruntime. ``options`` apply to every session it loads."""

    name = "onnxruntime"

    def __init__(self, options: OnnxRuntimeOptions | None = None) -> None:
        self.options = options if options is not None else OnnxRuntimeOptions()

    def load(
        self, artifact: str | os.PathLike[str], device: str = "cpu", *, stage: Any = None
    ) -> OnnxRuntimeSession:
        """Open the ONNX file ``artifact`` on ``device`` (``cpu``, ``cuda``, ``cuda:N`` or
        ``tensorrt``). When onnxruntime cannot use the first provider asked for, the session
        runs on the next one and says why in ``session.fallback`` and a warning. ``stage``
        (the voice stage the model belongs to) is not needed: the ONNX file holds everything."""
        for field in ("intra_op_threads", "inter_op_threads"):
            try:
                threads(getattr(self.options, field), f"onnxruntime option {field}")
            except AutovoiceError as exc:
                raise BackendError(str(exc)) from None
        path = model_path(artifact)
        requested, device_id = self.providers_for(device)
        session = self._open(path, requested, device_id)
        fallback = fallback_message(path, device, requested, session.get_providers())
        if fallback is not None:
            warnings.warn(fallback, RuntimeWarning, stacklevel=2)
        return OnnxRuntimeSession(
            session, path=path, device=device, requested=requested, fallback=fallback
        )

    def providers_for(self, device: str) -> tuple[tuple[str, ...], int | None]:
        """The providers to ask for on ``device`` (or the ``providers`` option when set), and
        the GPU index of ``cuda:N`` (None without one)."""
        kind, _, index = str(device).partition(":")
        if kind not in DEVICE_PROVIDERS or (index and (kind == "cpu" or not index.isdigit())):
            raise BackendError(
                f"onnxruntime backend: unknown device {device!r}; "
                "devices: cpu, cuda, cuda:N, tensorrt, tensorrt:N"
            )
        if kind == "cuda" and self.options.tensorrt:
            kind = "tensorrt"
        providers = self.options.providers or DEVICE_PROVIDERS[kind]
        unknown = [p for p in providers if p not in ort.get_all_providers()]
        if unknown:
            raise BackendError(
                f"onnxruntime backend: unknown execution provider {unknown[0]!r}; "
                f"onnxruntime knows: {', '.join(ort.get_all_providers())}"
            )
        return tuple(providers), int(index) if index else None

    def session_options(self) -> Any:
        """The ``onnxruntime.SessionOptions`` built from this backend's options."""
        so = ort.SessionOptions()
        if self.options.intra_op_threads:
            so.intra_op_num_threads = self.options.intra_op_threads
        if self.options.inter_op_threads:
            so.inter_op_num_threads = self.options.inter_op_threads
        spin = "1" if self.options.spinning else "0"
        so.add_session_config_entry("session.intra_op.allow_spinning", spin)
        so.add_session_config_entry("session.inter_op.allow_spinning", spin)
        level = _LEVELS[self.options.graph_optimization]
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        return so

    def _open(self, path: str, requested: Sequence[str], device_id: int | None) -> Any:
        try:  # onnxruntime before 1.24 follows any external data path
            check_external_data(path)
        except AutovoiceError as exc:
            raise BackendError(str(exc)) from None
        available = ort.get_available_providers()
        usable = [p for p in requested if p in available] or [CPU]
        if self.options.preload_dlls and any(p in GPU_PROVIDERS for p in usable):
            preload_gpu_libraries()
        options = [provider_options(self.options, p, device_id) for p in usable]
        for provider in options:
            for key in ("trt_engine_cache_path", "trt_timing_cache_path"):
                if key in provider:
                    Path(provider[key]).mkdir(parents=True, exist_ok=True)
        try:
            return ort.InferenceSession(
                path, self.session_options(), providers=usable, provider_options=options
            )
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise BackendError(f"{path}: cannot load the ONNX model: {exc}") from exc


GPU_PROVIDERS = (CUDA, TENSORRT)


def default_trt_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/autovoice/onnxruntime-tensorrt``, or under ``~/.cache``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autovoice" / "onnxruntime-tensorrt"


def provider_options(
    options: OnnxRuntimeOptions, provider: str, device_id: int | None
) -> dict[str, str]:
    """The options onnxruntime is given for ``provider`` (its documented keys, as strings):
    the GPU of ``cuda:N`` for CUDA and TensorRT, and the TensorRT provider's engine and timing
    caches, FP16 and workspace."""
    if provider not in GPU_PROVIDERS:
        return {}
    out = {} if device_id is None else {"device_id": str(device_id)}
    if provider != TENSORRT:
        return out
    out["trt_fp16_enable"] = _flag(options.trt_fp16)
    out["trt_engine_cache_enable"] = _flag(options.trt_engine_cache)
    out["trt_timing_cache_enable"] = _flag(options.trt_engine_cache)
    if options.trt_engine_cache:
        cache = str(
            Path(options.trt_cache_dir) if options.trt_cache_dir else default_trt_cache_dir()
        )
        out["trt_engine_cache_path"] = cache
        out["trt_timing_cache_path"] = cache
    if options.trt_workspace_mb:
        out["trt_max_workspace_size"] = str(options.trt_workspace_mb << 20)
    return out


def _flag(value: bool) -> str:
    return "1" if value else "0"


@functools.cache
def preload_gpu_libraries() -> str | None:
    """Once per process: ``onnxruntime.preload_dlls()`` (onnxruntime-gpu 1.21 and newer), which
    loads CUDA and cuDNN from the NVIDIA Python packages so that a CUDA or TensorRT session finds
    them. Returns why it did not run (an older onnxruntime, or the call failed, with a warning),
    None when it ran."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return f"onnxruntime {ort.__version__} has no preload_dlls (1.21 added it)"
    try:
        preload()
    except Exception as exc:  # loading a library can fail in many ways; the session says more
        why = f"onnxruntime.preload_dlls() failed: {exc}"
        warnings.warn(why, RuntimeWarning, stacklevel=2)
        return why
    return None


def model_path(artifact: str | os.PathLike[str]) -> str:
    """``artifact`` as a path to an existing file, else a :class:`BackendError` naming it."""
    loads = "an .onnx model"
    return str(artifact_file(artifact, backend="onnxruntime", what="ONNX model", loads=loads))


def fallback_message(
    path: str, device: str, requested: Sequence[str], active: Sequence[str]
) -> str | None:
    """Why onnxruntime does not use the first provider asked for, or None when it does."""
    wanted = requested[0]
    if wanted in active:
        return None
    now = active[0] if active else "no provider"
    if wanted in ort.get_available_providers():
        why = f"{wanted} failed to start (onnxruntime's log above says why)"
    else:
        why = (
            f"this onnxruntime build has no {wanted} (it has: "
            f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu for CUDA"
        )
    return f"{path}: asked for {wanted} (device {device!r}) but the model runs on {now}: {why}"
