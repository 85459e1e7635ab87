"""A deserialized TensorRT engine as a session: numpy in, numpy out.

Each call picks the optimization profile that covers the inputs, sets every input's shape,
grows device buffers when the tensors got bigger (:class:`~autovoice_tensorrt.buffers.BufferPlan`),
binds them by name, runs ``execute_async_v3`` on the session's CUDA stream and copies the
outputs back. Outputs whose shape depends on the data (not only on input shapes) are allocated
by TensorRT through an output allocator that grows the same buffers.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from autovoice.errors import BackendError
from autovoice.signature import DescribedSession, GraphSignature, check_inputs
from autovoice_tensorrt.buffers import BufferPlan, DeviceBuffers, tensor_nbytes
from autovoice_tensorrt.cache import EngineRecord, GpuIdentity
from autovoice_tensorrt.device import stream_handle
from autovoice_tensorrt.profiles import Profile, ShapeRange, describe_misfit, select_profile
from autovoice_tensorrt.tensors import InputError, TensorInfo, describe, enum_name


def engine_profiles(engine: Any, inputs: Sequence[str]) -> tuple[Profile, ...]:
    """The optimization profiles stored in an engine."""
    profiles = []
    for index in range(engine.num_optimization_profiles):
        ranges = []
        for name in inputs:
            low, opt, high = (
                tuple(int(d) for d in s) for s in engine.get_tensor_profile_shape(name, index)
            )
            ranges.append((name, ShapeRange(low, opt, high)))
        profiles.append(Profile(tuple(ranges)))
    return tuple(profiles)


def make_output_allocator(trt: Any, buffers: DeviceBuffers) -> Any:
    """A ``trt.IOutputAllocator`` that hands TensorRT buffers from ``buffers`` (grown as
    planned) and records the shapes TensorRT reports."""

    class OutputAllocator(trt.IOutputAllocator):  # type: ignore[misc]
        def __init__(self) -> None:
            trt.IOutputAllocator.__init__(self)
            self.shapes: dict[str, tuple[int, ...]] = {}
            self.error: Exception | None = None

        def reallocate_output(
            self, tensor_name: str, memory: Any, size: int, alignment: int
        ) -> Any:
            try:
                address = buffers.ensure(tensor_name, int(size))
            except Exception as exc:  # TensorRT calls this from C++: report after, return null
                self.error = exc
                return None
            if alignment and address % int(alignment):
                self.error = BackendError(f"output {tensor_name!r}: buffer not {alignment}-aligned")
                return None
            return address

        def reallocate_output_async(
            self, tensor_name: str, memory: Any, size: int, alignment: int, stream: Any
        ) -> Any:
            return self.reallocate_output(tensor_name, memory, size, alignment)

        def notify_shape(self, tensor_name: str, shape: Any) -> None:
            self.shapes[tensor_name] = tuple(int(d) for d in shape)

    return OutputAllocator()


class TensorRTSession(DescribedSession[TensorInfo]):
    """An engine loaded on one GPU, with its execution context, stream and buffers.

    ``run`` (alias ``infer``) is thread-safe: calls on one session take turns.
    """

    def __init__(
        self,
        engine: Any,
        *,
        cuda: Any,
        trt: Any,
        device_index: int = 0,
        path: str = "",
        record: EngineRecord | None = None,
        signature: GraphSignature | None = None,
        runtime: Any = None,
        gpu: GpuIdentity | None = None,
    ) -> None:
        self._engine, self._runtime, self._cuda, self._trt = engine, runtime, cuda, trt
        self.path, self.device_index, self.record, self.gpu = path, device_index, record, gpu
        axes = (
            {t.name: t.shape for t in (*signature.inputs, *signature.outputs)} if signature else {}
        )
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        modes = {name: enum_name(engine.get_tensor_mode(name)) for name in names}
        self._inputs = tuple(describe(engine, n, axes) for n in names if modes[n] == "INPUT")
        self._outputs = tuple(describe(engine, n, axes) for n in names if modes[n] == "OUTPUT")
        self.profiles = engine_profiles(engine, [t.name for t in self._inputs])
        self._caps = self._input_caps()
        self._context = engine.create_execution_context()
        if self._context is None:
            raise BackendError(f"{path}: TensorRT could not create an execution context")
        self._stream = cuda.stream()
        self._buffers = DeviceBuffers(cuda)
        self._allocator = make_output_allocator(trt, self._buffers)
        for info in self._outputs:
            if any(d is None or isinstance(d, str) for d in info.shape):
                self._context.set_output_allocator(info.name, self._allocator)
        self._profile = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def buffer_allocations(self) -> int:
        """Device allocations made so far (grows only when a bigger tensor arrives)."""
        return self._buffers.allocations

    def __repr__(self) -> str:
        return f"TensorRTSession({self.path!r}, device=cuda:{self.device_index})"

    def _input_caps(self) -> dict[str, int]:
        return {
            info.name: max(tensor_nbytes(p[info.name].max, info.dtype) for p in self.profiles)
            for info in self._inputs
            if self.profiles
        }

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the engine on ``inputs`` (every input by name, the engine's dtype and rank, sizes
        inside one optimization profile) and return every output by name."""
        arrays = self._feed(inputs)
        with self._lock:
            if self._closed:
                raise BackendError(f"{self.path}: the session is closed")
            self._cuda.set_device(self.device_index)
            self._use_profile(arrays)
            shapes = self._set_shapes(arrays)
            self._bind(arrays, shapes)
            for name, array in arrays.items():
                self._cuda.to_device(self._buffers.address(name), array, self._stream)
            self._allocator.shapes.clear()
            self._allocator.error = None
            ran = self._context.execute_async_v3(stream_handle(self._stream))
            if self._allocator.error is not None:
                error = self._allocator.error
                raise BackendError(f"{self.path}: output allocation failed: {error}") from error
            if not ran:
                raise BackendError(f"{self.path}: TensorRT failed to run the engine (see its log)")
            results = self._fetch(shapes)
            self._cuda.synchronize(self._stream)
        return results

    infer = run

    def _use_profile(self, arrays: Mapping[str, np.ndarray]) -> None:
        shapes = {name: a.shape for name, a in arrays.items()}
        index = select_profile(self.profiles, shapes, prefer=self._profile)
        if index is None:
            raise InputError(f"{self.path}: {describe_misfit(self.profiles, shapes)}")
        if index != self._profile:
            ok = self._context.set_optimization_profile_async(index, stream_handle(self._stream))
            if not ok:
                raise BackendError(f"{self.path}: TensorRT could not switch to profile {index}")
            self._profile = index

    def _set_shapes(self, arrays: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
        for name, array in arrays.items():
            if not self._context.set_input_shape(name, array.shape):
                raise InputError(
                    f"{self.path}: TensorRT rejected shape {list(array.shape)} of input {name!r}"
                )
        missing = self._context.infer_shapes()
        if missing:
            raise InputError(
                f"{self.path}: TensorRT cannot infer shapes; unset: {', '.join(missing)}"
            )
        return {
            o.name: tuple(int(d) for d in self._context.get_tensor_shape(o.name))
            for o in self._outputs
        }

    def _bind(
        self, arrays: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]]
    ) -> None:
        tensors: dict[str, tuple[Sequence[int], Any]] = {
            n: (a.shape, a.dtype) for n, a in arrays.items()
        }
        dtypes = {o.name: o.dtype for o in self._outputs}
        tensors.update({n: (s, dtypes[n]) for n, s in shapes.items() if all(d >= 0 for d in s)})
        plan = BufferPlan.for_tensors(self._buffers.capacities, tensors, caps=self._caps)
        self._buffers.apply(plan)
        for name in self._buffers:
            if not self._context.set_tensor_address(name, self._buffers.address(name)):
                raise BackendError(f"{self.path}: TensorRT rejected the buffer of tensor {name!r}")

    def _fetch(self, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        results = {}
        for info in self._outputs:
            shape = self._allocator.shapes.get(info.name, shapes[info.name])
            if any(d < 0 for d in shape):
                raise BackendError(
                    f"{self.path}: TensorRT did not report the shape of {info.name!r}"
                )
            host = np.empty(shape, dtype=info.dtype)
            if host.nbytes:
                self._cuda.to_host(host, self._buffers.address(info.name), self._stream)
            results[info.name] = host
        return results

    def _feed(self, inputs: Any) -> dict[str, np.ndarray]:
        return check_inputs(self._inputs, inputs, self.path, holder="the engine", error=InputError)

    def get_engine_info(self) -> dict[str, Any]:
        """What the engine takes and gives, its profiles, precision, device and versions."""
        info: dict[str, Any] = {
            "path": self.path,
            "inputs": [t.to_dict() for t in self._inputs],
            "outputs": [t.to_dict() for t in self._outputs],
            "profiles": [p.to_dict() for p in self.profiles],
            "precision": self.record.precision if self.record else "unknown",
            "key": self.record.key if self.record else None,
            "device": {"index": self.device_index, **(self.gpu.to_dict() if self.gpu else {})},
            "versions": {"tensorrt": str(getattr(self._trt, "__version__", "unknown"))},
            "buffers": self._buffers.capacities,
        }
        try:
            info["versions"].update(self._cuda.versions())
        except BackendError as exc:
            info["versions"]["cuda"] = f"unknown ({exc})"
        return info

    def close(self) -> None:
        """Free the device buffers and the stream; the session cannot run after."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._buffers.close()
            self._cuda.destroy_stream(self._stream)
            self._context = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # half-built, or the interpreter is shutting down
            self.close()

    def __enter__(self) -> TensorRTSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def deserialize(data: bytes, *, trt: Any, logger: Any, where: str) -> tuple[Any, Any]:
    """A ``(runtime, engine)`` pair from serialized bytes; the runtime must outlive the engine."""
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        raise BackendError(
            f"{where}: TensorRT cannot load this engine (built by another TensorRT version or for "
            "another GPU? its log above says why)"
        )
    return runtime, engine


__all__ = [
    "InputError",
    "TensorInfo",
    "TensorRTSession",
    "deserialize",
    "engine_profiles",
    "make_output_allocator",
]
