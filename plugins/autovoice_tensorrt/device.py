"""The CUDA runtime through cuda-python (``cuda.bindings.runtime``), every call checked.

cuda-python's calls return a tuple ``(error, *values)`` instead of raising; :func:`check` turns
an error into a :class:`CudaError` naming the call. :class:`Cuda` wraps the few calls the backend
needs. The runtime module is imported when a :class:`Cuda` is made, not when this module is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autovoice.errors import BackendError
from autovoice_tensorrt.cache import GpuIdentity


class CudaError(BackendError):
    """A CUDA runtime call failed; the message names the call and CUDA's error."""


def runtime_module() -> Any:
    """``cuda.bindings.runtime`` (cuda-python 12.6+ and 13; ``from cuda import cudart`` is gone
    in 13)."""
    try:
        from cuda.bindings import runtime
    except ImportError as exc:
        raise BackendError(
            f"the tensorrt backend needs cuda-python 12.6 or newer "
            f"(pip install 'autovoice[tensorrt]'): {exc}"
        ) from exc
    return runtime


def error_text(rt: Any, err: Any) -> str:
    """``cudaErrorNoDevice (no CUDA-capable device is detected)`` for an error code."""
    name = getattr(err, "name", None) or str(err)
    try:
        status, message = rt.cudaGetErrorString(err)
        detail = message.decode() if isinstance(message, bytes) else str(message)
    except Exception:  # describing an error must not raise another
        return str(name)
    ok = status == rt.cudaError_t.cudaSuccess
    return f"{name} ({detail})" if ok and detail else str(name)


def check(rt: Any, call: str, result: Any) -> Any:
    """The value(s) of a cuda-python call's result ``(error, *values)``: None for none, the value
    for one, a tuple for more. A non-success error raises :class:`CudaError` naming ``call``."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != rt.cudaError_t.cudaSuccess:
        raise CudaError(f"CUDA call {call} failed: {error_text(rt, err)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).split(b"\0", 1)[0].decode("utf-8", "replace")
    return str(value).strip()


def _version(number: int) -> str:
    return f"{number // 1000}.{number % 1000 // 10}"


class Cuda:
    """The CUDA runtime calls of the backend; ``rt`` is ``cuda.bindings.runtime`` (or a stand-in
    with the same functions, for tests)."""

    def __init__(self, rt: Any = None) -> None:
        self.rt = rt if rt is not None else runtime_module()

    def call(self, name: str, *args: Any) -> Any:
        """Call ``rt.<name>(*args)`` and check its error code."""
        return check(self.rt, name, getattr(self.rt, name)(*args))

    def device_count(self) -> int:
        return int(self.call("cudaGetDeviceCount"))

    def set_device(self, index: int) -> None:
        self.call("cudaSetDevice", index)

    def gpu(self, index: int) -> GpuIdentity:
        """Name and compute capability of GPU ``index``."""
        props = self.call("cudaGetDeviceProperties", index)
        return GpuIdentity(
            name=_text(props.name), compute_capability=(int(props.major), int(props.minor))
        )

    def versions(self) -> dict[str, str]:
        """Versions of the CUDA runtime, the driver and cuda-python."""
        out = {
            "cuda_runtime": _version(int(self.call("cudaRuntimeGetVersion"))),
            "cuda_driver": _version(int(self.call("cudaDriverGetVersion"))),
        }
        try:
            import cuda.bindings as bindings

            out["cuda_python"] = str(getattr(bindings, "__version__", "unknown"))
        except ImportError:
            out["cuda_python"] = "unknown"
        return out

    def malloc(self, nbytes: int) -> int:
        return int(self.call("cudaMalloc", nbytes))

    def free(self, pointer: int) -> None:
        self.call("cudaFree", pointer)

    def stream(self) -> Any:
        return self.call("cudaStreamCreate")

    def destroy_stream(self, stream: Any) -> None:
        self.call("cudaStreamDestroy", stream)

    def synchronize(self, stream: Any) -> None:
        self.call("cudaStreamSynchronize", stream)

    def to_device(self, pointer: int, array: np.ndarray, stream: Any) -> None:
        """Copy C-contiguous ``array`` to device memory at ``pointer`` on ``stream``."""
        if array.nbytes:
            kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
            self.call("cudaMemcpyAsync", pointer, array.ctypes.data, array.nbytes, kind, stream)

    def to_host(self, array: np.ndarray, pointer: int, stream: Any) -> None:
        """Copy ``array.nbytes`` bytes at ``pointer`` into C-contiguous ``array`` on ``stream``."""
        if array.nbytes:
            kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
            self.call("cudaMemcpyAsync", array.ctypes.data, pointer, array.nbytes, kind, stream)


def stream_handle(stream: Any) -> int:
    """The raw ``cudaStream_t`` value TensorRT takes as ``stream_handle``."""
    return int(stream)


__all__ = ["Cuda", "CudaError", "check", "runtime_module", "stream_handle"]
