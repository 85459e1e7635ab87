"""Is the tensorrt backend usable here? Imports tensorrt and cuda-python (only when asked).

The backend builds strongly typed networks (TensorRT deprecated weak typing in 10.12 and removed
it in 11), and follows the Python API of TensorRT 10.12 to 11.x: :func:`version_problem` says
why another version cannot be used.
"""

from __future__ import annotations

import re
from typing import Any

from autovoice.errors import BackendError
from autovoice_tensorrt.device import error_text, runtime_module

MIN_VERSION = (10, 12)
"""The first TensorRT whose strongly typed networks the backend builds (weak typing deprecated)."""
MAX_MAJOR = 11
"""The newest TensorRT major version whose Python API the backend follows."""
SUPPORTED = f"TensorRT {MIN_VERSION[0]}.{MIN_VERSION[1]} to {MAX_MAJOR}.x"


def parse_version(text: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a version string such as ``10.13.3.9``, or None."""
    found = re.match(r"\s*(\d+)\.(\d+)", str(text))
    return (int(found.group(1)), int(found.group(2))) if found else None


def version_problem(text: str) -> str | None:
    """Why TensorRT ``text`` cannot be used by this backend, or None when it can."""
    version = parse_version(text)
    install = "pip install 'autovoice[tensorrt]' for a supported one"
    if version is None:
        return f"cannot read the TensorRT version {text!r}; this backend supports {SUPPORTED}"
    if version < MIN_VERSION:
        return f"needs {SUPPORTED} (strongly typed networks), found TensorRT {text}; {install}"
    if version[0] > MAX_MAJOR:
        return f"TensorRT {text} is newer than this backend supports ({SUPPORTED}); {install}"
    return None


def reason(tensorrt_version: str, rt: Any) -> str | None:
    """Why TensorRT ``tensorrt_version`` with CUDA runtime module ``rt`` cannot run here (an
    unsupported version, no CUDA device visible), or None when it can."""
    problem = version_problem(tensorrt_version)
    if problem:
        return problem
    err, count = rt.cudaGetDeviceCount()
    if err != rt.cudaError_t.cudaSuccess:
        return f"no CUDA device visible (cudaGetDeviceCount: {error_text(rt, err)})"
    if int(count) < 1:
        return "no CUDA device visible"
    return None


def probe() -> str | None:
    """None when a supported TensorRT imports and a CUDA device is visible, else why not."""
    try:
        import tensorrt
    except Exception as exc:  # a stub or a broken install raises more than ImportError
        return f"tensorrt cannot be imported: {exc}"
    try:
        rt = runtime_module()
    except BackendError as exc:
        return str(exc)
    return reason(str(getattr(tensorrt, "__version__", "0")), rt)


__all__ = [
    "MAX_MAJOR",
    "MIN_VERSION",
    "SUPPORTED",
    "parse_version",
    "probe",
    "reason",
    "version_problem",
]
