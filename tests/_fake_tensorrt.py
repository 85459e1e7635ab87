"""Stand-ins for TensorRT and the CUDA runtime, for tests that run without a GPU.

:func:`fake_tensorrt` makes a ``tensorrt`` module of one supported version whose names are
those the real Python bindings define (``python/src/infer/pyCore.cpp`` and ``pyGraph.cpp`` of
NVIDIA/TensorRT at ``release/10.12``, ``release/10.16`` and the 11.1 release): a name removed in
that version is missing here too, so code that uses it fails with ``AttributeError`` as it would
on the real one. The builder reads the ONNX file it is given (with ``onnx``) for its inputs and
records what it was asked, and refuses the precision flags in a strongly typed network as
TensorRT does.
"""

from __future__ import annotations

import ctypes
import enum
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from autovoice.bundle.external import load_with_weights

# -- the API of each version, from the bindings' sources --------------------------------------

BUILDER_FLAGS_10 = [
    "FP16",
    "BF16",
    "INT8",
    "DEBUG",
    "GPU_FALLBACK",
    "REFIT",
    "DISABLE_TIMING_CACHE",
    "EDITABLE_TIMING_CACHE",
    "TF32",
    "SPARSE_WEIGHTS",
    "SAFETY_SCOPE",
    "OBEY_PRECISION_CONSTRAINTS",
    "PREFER_PRECISION_CONSTRAINTS",
    "DIRECT_IO",
    "REJECT_EMPTY_ALGORITHMS",
    "VERSION_COMPATIBLE",
    "EXCLUDE_LEAN_RUNTIME",
    "FP8",
    "ERROR_ON_TIMING_CACHE_MISS",
    "DISABLE_COMPILATION_CACHE",
    "WEIGHTLESS",
    "STRIP_PLAN",
    "REFIT_IDENTICAL",
    "WEIGHT_STREAMING",
    "INT4",
    "REFIT_INDIVIDUAL",
    "STRICT_NANS",
    "MONITOR_MEMORY",
    "FP4",
    "DISTRIBUTIVE_INDEPENDENCE",
]
BUILDER_FLAGS_11 = [
    "DEBUG",
    "GPU_FALLBACK",
    "REFIT",
    "DISABLE_TIMING_CACHE",
    "EDITABLE_TIMING_CACHE",
    "TF32",
    "SPARSE_WEIGHTS",
    "SAFETY_SCOPE",
    "DIRECT_IO",
    "VERSION_COMPATIBLE",
    "EXCLUDE_LEAN_RUNTIME",
    "ERROR_ON_TIMING_CACHE_MISS",
    "DISABLE_COMPILATION_CACHE",
    "STRIP_PLAN",
    "REFIT_IDENTICAL",
    "WEIGHT_STREAMING",
    "REFIT_INDIVIDUAL",
    "STRICT_NANS",
    "MONITOR_MEMORY",
    "DISTRIBUTIVE_INDEPENDENCE",
]
PRECISION_FLAGS = [
    "FP16",
    "BF16",
    "INT8",
    "FP8",
    "INT4",
    "FP4",
    "OBEY_PRECISION_CONSTRAINTS",
    "PREFER_PRECISION_CONSTRAINTS",
]
"""Weak typing's flags: a strongly typed network refuses them (11 has none of them)."""

#: NetworkDefinitionCreationFlag as NvInfer.h numbers it (11 renumbered STRONGLY_TYPED to 0)
NETWORK_FLAGS_10 = {
    "EXPLICIT_BATCH": 0,
    "STRONGLY_TYPED": 1,
    "PREFER_JIT_PYTHON_PLUGINS": 2,
    "PREFER_AOT_PYTHON_PLUGINS": 3,
}
NETWORK_FLAGS_11 = {
    "STRONGLY_TYPED": 0,
    "PREFER_JIT_PYTHON_PLUGINS": 1,
    "PREFER_AOT_PYTHON_PLUGINS": 2,
}

VERSIONS = ("10.12.0.36", "10.16.0.72", "11.1.0.106")
"""The versions the backend supports at both ends of its range: their bindings' names."""


def major(version: str) -> int:
    return int(version.split(".", 1)[0])


class Named:
    def __init__(self, name: str) -> None:
        self.name = name


class FakeLogger:
    WARNING = 2

    def __init__(self, severity: int) -> None:
        self.severity = severity


class FakeAllocatorBase:
    def __init__(self) -> None:
        pass


# -- the builder ------------------------------------------------------------------------------


class FakeLayer10:
    """An ILayer of 10.x: ``precision`` and ``set_output_type`` exist (deprecated in 10.12) and,
    as the bindings' docs say, are not allowed in a strongly typed network."""

    def __init__(self, network: FakeNetwork, name: str) -> None:
        self._network, self.name = network, name

    @property
    def precision(self) -> Any:
        return None

    @precision.setter
    def precision(self, value: Any) -> None:
        self._network.misuse.append(f"layer {self.name}: precision set")

    def set_output_type(self, index: int, dtype: Any) -> None:
        self._network.misuse.append(f"layer {self.name}: output type set")


class FakeLayer11:
    """An ILayer of 11: no precision attributes at all."""

    __slots__ = ("_network", "name")

    def __init__(self, network: FakeNetwork, name: str) -> None:
        self._network, self.name = network, name


class FakeNetwork:
    """A parsed network: its inputs come from the ONNX model the parser read."""

    def __init__(self, trt: FakeTensorRT, flags: int) -> None:
        self.trt, self.flags = trt, flags
        self.inputs: list[SimpleNamespace] = []
        self.layers: list[Any] = []
        self.misuse: list[str] = []
        self.model: Any = None

    @property
    def strongly_typed(self) -> bool:
        if major(self.trt.__version__) >= 11:
            return True  # 11: always, the flag is ignored
        return bool(self.flags & (1 << int(self.trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)))

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def get_input(self, index: int) -> SimpleNamespace:
        return self.inputs[index]

    def get_layer(self, index: int) -> Any:
        return self.layers[index]

    def load(self, model: Any) -> None:
        self.model = model
        initializers = {t.name for t in model.graph.initializer}
        for value in model.graph.input:
            if value.name in initializers:
                continue
            dims = value.type.tensor_type.shape.dim
            shape = tuple(-1 if d.dim_param else int(d.dim_value) for d in dims)
            self.inputs.append(SimpleNamespace(name=value.name, shape=shape))
        layer = FakeLayer11 if major(self.trt.__version__) >= 11 else FakeLayer10
        self.layers = [layer(self, node.name or node.op_type) for node in model.graph.node]


class FakeParser:
    def __init__(self, trt: FakeTensorRT, network: FakeNetwork) -> None:
        self.trt, self.network = trt, network
        self.num_errors = 0

    def parse_from_file(self, path: str) -> bool:
        self.trt.parsed.append(("file", path))
        self.network.load(load_with_weights(path))
        return True

    def parse(self, model: bytes, path: str | None = None) -> bool:
        import onnx

        self.trt.parsed.append(("bytes", path))
        self.network.load(onnx.load_from_string(bytes(model)))
        return True

    def get_error(self, index: int) -> str:
        return "no error"


class FakeConfig:
    def __init__(self, trt: FakeTensorRT) -> None:
        self.trt = trt
        self.flags: list[Any] = []
        self.pools: dict[Any, int] = {}
        self.profiles: list[dict[str, tuple[Any, ...]]] = []
        self.builder_optimization_level = 3
        self.cache_in: bytes | None = None

    def set_flag(self, flag: Any) -> None:
        if not isinstance(flag, self.trt.BuilderFlag):
            raise TypeError(f"set_flag takes a BuilderFlag, got {flag!r}")
        self.flags.append(flag)

    def set_memory_pool_limit(self, pool: Any, pool_size: int) -> None:
        if not isinstance(pool, self.trt.MemoryPoolType):
            raise TypeError(f"set_memory_pool_limit takes a MemoryPoolType, got {pool!r}")
        self.pools[pool] = pool_size

    def add_optimization_profile(self, profile: SimpleNamespace) -> int:
        self.profiles.append(profile.shapes)
        return len(self.profiles) - 1

    def create_timing_cache(self, serialized_timing_cache: bytes) -> SimpleNamespace:
        return SimpleNamespace(data=bytes(serialized_timing_cache))

    def set_timing_cache(self, cache: SimpleNamespace, ignore_mismatch: bool) -> bool:
        self.cache_in = cache.data
        return True

    def get_timing_cache(self) -> SimpleNamespace:
        return SimpleNamespace(serialize=lambda: b"timings")


class FakeBuilder:
    def __init__(self, trt: FakeTensorRT) -> None:
        self.trt = trt

    def create_network(self, flags: int = 0) -> FakeNetwork:
        known = sum(1 << int(f) for f in self.trt.NetworkDefinitionCreationFlag)
        if flags & ~known:
            raise ValueError(f"unknown network creation flags {flags:#x}")
        self.trt.network = FakeNetwork(self.trt, flags)
        return self.trt.network

    def create_builder_config(self) -> FakeConfig:
        self.trt.config = FakeConfig(self.trt)
        return self.trt.config

    def create_optimization_profile(self) -> SimpleNamespace:
        shapes: dict[str, tuple[Any, ...]] = {}
        return SimpleNamespace(shapes=shapes, set_shape=lambda n, *s: shapes.update({n: s}))

    def build_serialized_network(self, network: FakeNetwork, config: FakeConfig) -> bytes | None:
        weak = [f.name for f in config.flags if f.name in PRECISION_FLAGS]
        if network.strongly_typed and (weak or network.misuse):
            self.trt.errors.append(f"strongly typed network: {weak or network.misuse}")
            return None
        if not network.strongly_typed:
            self.trt.errors.append("weakly typed network (deprecated since 10.12)")
        return b"plan bytes"


class FakeTensorRT:
    """A ``tensorrt`` module of ``version`` (one of :data:`VERSIONS`)."""

    def __init__(self, version: str = VERSIONS[-1]) -> None:
        eleven = major(version) >= 11
        self.__version__ = version
        flags = BUILDER_FLAGS_11 if eleven else BUILDER_FLAGS_10
        self.BuilderFlag = enum.IntEnum("BuilderFlag", {n: i for i, n in enumerate(flags)})
        self.NetworkDefinitionCreationFlag = enum.IntEnum(
            "NetworkDefinitionCreationFlag", NETWORK_FLAGS_11 if eleven else NETWORK_FLAGS_10
        )
        self.MemoryPoolType = enum.IntEnum(
            "MemoryPoolType",
            [
                "WORKSPACE",
                "DLA_MANAGED_SRAM",
                "DLA_LOCAL_DRAM",
                "DLA_GLOBAL_DRAM",
                "TACTIC_DRAM",
                "TACTIC_SHARED_MEMORY",
            ],
        )
        self.IOutputAllocator = FakeAllocatorBase
        self.Logger = FakeLogger
        self.parsed: list[tuple[str, str | None]] = []
        self.errors: list[str] = []
        self.network: FakeNetwork | None = None
        self.config: FakeConfig | None = None
        self.engines: dict[bytes, Any] = {}
        """Serialized bytes -> the engine ``Runtime.deserialize_cuda_engine`` gives for them."""

    def Builder(self, logger: object) -> FakeBuilder:
        return FakeBuilder(self)

    def OnnxParser(self, network: FakeNetwork, logger: object) -> FakeParser:
        return FakeParser(self, network)

    def Runtime(self, logger: object) -> SimpleNamespace:
        return SimpleNamespace(deserialize_cuda_engine=lambda data: self.engines.get(bytes(data)))


# -- the CUDA runtime -------------------------------------------------------------------------


class FakeError(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorMemoryAllocation = 2
    cudaErrorInsufficientDriver = 35
    cudaErrorNoDevice = 100


class FakeKind(enum.IntEnum):
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


OK = FakeError.cudaSuccess


class FakeRuntime:
    """``cuda.bindings.runtime`` for tests: device memory is host memory, bounds-checked."""

    cudaError_t = FakeError
    cudaMemcpyKind = FakeKind

    def __init__(self, devices: int = 1, limit: int | None = None, name: bytes = b"Fake GPU"):
        self.devices, self.limit, self.name = devices, limit, name
        self.memory: dict[int, tuple[ctypes.Array[ctypes.c_char], int]] = {}

    def cudaGetErrorString(self, err: FakeError) -> tuple[FakeError, bytes]:
        return OK, f"explained {err.name}".encode()

    def cudaGetDeviceCount(self) -> tuple[FakeError, int]:
        return (OK, self.devices) if self.devices else (FakeError.cudaErrorNoDevice, 0)

    def cudaSetDevice(self, index: int) -> tuple[FakeError]:
        return (OK,)

    def cudaGetDeviceProperties(self, index: int) -> tuple[FakeError, SimpleNamespace]:
        return OK, SimpleNamespace(name=self.name + b"\0\0\0", major=8, minor=9)

    def cudaRuntimeGetVersion(self) -> tuple[FakeError, int]:
        return OK, 12080

    def cudaDriverGetVersion(self) -> tuple[FakeError, int]:
        return OK, 13000

    def cudaMalloc(self, nbytes: int) -> tuple[FakeError, int]:
        if self.limit is not None and nbytes > self.limit:
            return FakeError.cudaErrorMemoryAllocation, 0
        buffer = ctypes.create_string_buffer(nbytes + 256)  # aligned like cudaMalloc's
        pointer = -(-ctypes.addressof(buffer) // 256) * 256
        self.memory[pointer] = (buffer, nbytes)
        return OK, pointer

    def cudaFree(self, pointer: int) -> tuple[FakeError]:
        del self.memory[pointer]
        return (OK,)

    def cudaStreamCreate(self) -> tuple[FakeError, int]:
        return OK, 7

    def cudaStreamDestroy(self, stream: int) -> tuple[FakeError]:
        return (OK,)

    def cudaStreamSynchronize(self, stream: int) -> tuple[FakeError]:
        return (OK,)

    def cudaMemcpyAsync(self, dst: int, src: int, n: int, kind: FakeKind, stream: int) -> tuple:
        self.device_view(dst if kind == FakeKind.cudaMemcpyHostToDevice else src, n)
        ctypes.memmove(dst, src, n)
        return (OK,)

    def device_view(self, pointer: int, nbytes: int, dtype: str = "uint8") -> np.ndarray:
        """The device bytes at ``pointer``; fails unless they lie inside one allocation."""
        for start, (_, size) in self.memory.items():
            if start <= pointer and pointer + nbytes <= start + size:
                raw = (ctypes.c_char * nbytes).from_address(pointer)
                return np.frombuffer(raw, dtype=dtype)
        raise AssertionError(f"{nbytes} bytes at {pointer:#x} are outside every allocation")


# -- an engine: y = 2x + 1 on x float32 [batch, time]; k = indices where n > 1 ----------------

TENSORS = {
    "x": ("INPUT", "FLOAT", (-1, -1)),
    "n": ("INPUT", "INT64", (-1,)),
    "y": ("OUTPUT", "FLOAT", (-1, -1)),
    "k": ("OUTPUT", "INT64", (-1,)),
}
PROFILES = [  # (min, opt, max) of x; n follows the batch
    ((1, 1), (2, 4), (4, 8)),
    ((1, 9), (2, 32), (4, 64)),
]


class FakeEngine:
    num_io_tensors = len(TENSORS)
    num_optimization_profiles = len(PROFILES)

    def __init__(self, rt: FakeRuntime) -> None:
        self.rt = rt

    def get_tensor_name(self, index: int) -> str:
        return list(TENSORS)[index]

    def get_tensor_mode(self, name: str) -> Named:
        return Named(TENSORS[name][0])

    def get_tensor_dtype(self, name: str) -> Named:
        return Named(TENSORS[name][1])

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return TENSORS[name][2]

    def get_tensor_profile_shape(self, name: str, index: int) -> list[tuple[int, ...]]:
        shapes = PROFILES[index]
        return [s if name == "x" else s[:1] for s in shapes]

    def create_execution_context(self) -> FakeContext:
        return FakeContext(self)


class FakeContext:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine, self.rt = engine, engine.rt
        self.profile = 0
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}
        self.allocators: dict[str, object] = {}

    def set_optimization_profile_async(self, index: int, stream: int) -> bool:
        self.profile, self.shapes = index, {}
        return True

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        low, _, high = self.engine.get_tensor_profile_shape(name, self.profile)
        if not all(lo <= s <= hi for lo, s, hi in zip(low, shape, high, strict=True)):
            return False
        self.shapes[name] = tuple(shape)
        return True

    def infer_shapes(self) -> list[str]:
        return [n for n in ("x", "n") if n not in self.shapes]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return {"y": self.shapes["x"], "k": (-1,)}.get(name, self.shapes.get(name, (-1,)))

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.addresses[name] = address
        return True

    def set_output_allocator(self, name: str, allocator: object) -> None:
        self.allocators[name] = allocator

    def execute_async_v3(self, stream: int) -> bool:
        x_shape, (batch,) = self.shapes["x"], self.shapes["n"]
        size = int(np.prod(x_shape))
        x = self.rt.device_view(self.addresses["x"], size * 4, "float32").reshape(x_shape)
        n = self.rt.device_view(self.addresses["n"], batch * 8, "int64")
        y = self.rt.device_view(self.addresses["y"], size * 4, "float32")
        y[:] = (x * 2 + 1).ravel()
        k = np.flatnonzero(n > 1).astype(np.int64)
        allocator: Any = self.allocators["k"]
        address = allocator.reallocate_output_async("k", 0, k.nbytes, 256, stream)
        if address is None:
            return False
        if k.nbytes:
            self.rt.device_view(address, k.nbytes, "int64")[:] = k
        allocator.notify_shape("k", k.shape)
        return True


def tiny_onnx(path: Path) -> Path:
    """``y = layernorm(softmax(x * 2, frames) + exp(x))`` on float32 [batch, frames, 4]:
    nodes an FP16 build keeps in FP32 beside ones it does not."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Mul", ["x", "two"], ["twice"], name="/scale/Mul"),
        helper.make_node("Softmax", ["twice"], ["soft"], axis=1, name="/attn/Softmax"),
        helper.make_node("Exp", ["x"], ["grown"], name="/dur/Exp"),
        helper.make_node("Add", ["soft", "grown"], ["sum"], name="/out/Add"),
        helper.make_node(
            "LayerNormalization", ["sum", "gamma", "beta"], ["y"], axis=-1, name="/norm/LN"
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "frames", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "frames", 4])],
        initializer=[
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("gamma", TensorProto.FLOAT, [4], [1.5, 1.0, 0.5, 2.0]),
            helper.make_tensor("beta", TensorProto.FLOAT, [4], [0.25, 0.0, -0.25, 0.5]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tensor_types(model: Any) -> dict[str, int]:
    """The ONNX element type of every tensor of ``model``, by strict shape inference (which
    also checks that the types of every node's inputs agree)."""
    import onnx

    typed = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    values = (*typed.graph.input, *typed.graph.output, *typed.graph.value_info)
    out = {v.name: int(v.type.tensor_type.elem_type) for v in values}
    out.update({t.name: int(t.data_type) for t in typed.graph.initializer})
    return out
