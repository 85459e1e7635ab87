"""Is the tensorrt backend usable here? Imports tensorrt and cuda-python (only when asked)."""

from __future__ import annotations

from typing import Any

from autovoice.errors import BackendError
from autovoice_tensorrt.device import error_text, runtime_module

MIN_MAJOR = 10


def reason(tensorrt_version: str, rt: Any) -> str | None:
    """Why TensorRT ``tensorrt_version`` with CUDA runtime module ``rt`` cannot run here (too
    old, no CUDA device visible), or None when it can."""
    major = str(tensorrt_version).split(".", 1)[0]
    if not major.isdigit() or int(major) < MIN_MAJOR:
        return f"needs TensorRT {MIN_MAJOR} or newer, found {tensorrt_version}"
    err, count = rt.cudaGetDeviceCount()
    if err != rt.cudaError_t.cudaSuccess:
        return f"no CUDA device visible (cudaGetDeviceCount: {error_text(rt, err)})"
    if int(count) < 1:
        return "no CUDA device visible"
    return None


def probe() -> str | None:
    """None when TensorRT 10+ imports and a CUDA device is visible, else why not."""
    try:
        import tensorrt
    except Exception as exc:  # a stub or a broken install raises more than ImportError
        return f"tensorrt cannot be imported: {exc}"
    try:
        rt = runtime_module()
    except BackendError as exc:
        return str(exc)
    return reason(str(getattr(tensorrt, "__version__", "0")), rt)


__all__ = ["probe", "reason"]
