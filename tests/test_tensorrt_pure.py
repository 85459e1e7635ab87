"""The tensorrt backend's parts that need no GPU: profiles, cache keys, buffer growth, the spec,
CUDA error checks, and a session run end to end against stand-ins for TensorRT and CUDA."""

from __future__ import annotations

import ctypes
import enum
import importlib.util
import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autovoice_tensorrt
from autovoice.config import ExportConfig, structure
from autovoice.errors import BackendError, ConfigError, PluginUnavailableError
from autovoice.plugins import Registry
from autovoice.signature import GraphSignature, TensorSpec, acoustic_signature, vocoder_signature
from autovoice_tensorrt import TensorRTOptions
from autovoice_tensorrt.backend import (
    artifact_path,
    axis_bounds,
    build_options,
    cuda_index,
    precision_of,
)
from autovoice_tensorrt.buffers import (
    MIN_BYTES,
    BufferPlan,
    DeviceBuffers,
    grown_capacity,
    tensor_nbytes,
)
from autovoice_tensorrt.build import keeps_fp32
from autovoice_tensorrt.cache import (
    EngineKey,
    GpuIdentity,
    bundle_entry,
    engine_key,
    engine_paths,
    incompatibility,
    make_sidecar,
    parse_sidecar,
    timing_cache_name,
)
from autovoice_tensorrt.device import Cuda, CudaError, check
from autovoice_tensorrt.engine import InputError, TensorRTSession
from autovoice_tensorrt.engines import stage_models
from autovoice_tensorrt.probe import reason
from autovoice_tensorrt.profiles import (
    AxisRange,
    Profile,
    ProfileError,
    ShapeRange,
    bounds_from_config,
    check_network,
    compute_profiles,
    describe_misfit,
    override_bounds,
    profile_for,
    select_profile,
    split_bounds,
)
from autovoice_tensorrt.store import EngineStore

EXPORT = ExportConfig()
GPU = GpuIdentity(name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0))


def _range(export: ExportConfig, axis: str) -> tuple[int, int, int]:
    return tuple(getattr(export, f"{axis}_{end}") for end in ("min", "opt", "max"))


# --- profiles -----------------------------------------------------------------------------


def test_acoustic_profile_takes_batch_and_tokens_from_the_export_section() -> None:
    export = ExportConfig(batch_max=16, tokens_min=2, tokens_opt=64, tokens_max=512)
    (profile,) = compute_profiles(acoustic_signature(80), [bounds_from_config(export)])
    b, t = _range(export, "batch"), _range(export, "tokens")
    assert profile["tokens"] == ShapeRange((b[0], t[0]), (b[1], t[1]), (b[2], t[2]))
    assert profile["speakers"] == ShapeRange((b[0],), (b[1],), (b[2],))
    assert profile.names == tuple(acoustic_signature(80).input_names)


def test_vocoder_profile_keeps_fixed_sizes() -> None:
    (profile,) = compute_profiles(vocoder_signature(100), [bounds_from_config(EXPORT)])
    f = _range(EXPORT, "frames")
    assert profile["mel"].min[1] == profile["mel"].max[1] == 100
    assert (profile["mel"].min[2], profile["mel"].opt[2], profile["mel"].max[2]) == f


def test_samples_axis_scales_frames_by_hop() -> None:
    bounds = bounds_from_config(EXPORT, hop_length=256)
    assert bounds["samples"] == AxisRange(*(256 * v for v in _range(EXPORT, "frames")))
    assert "samples" not in bounds_from_config(EXPORT)


def test_axis_without_a_range_is_named() -> None:
    signature = GraphSignature((TensorSpec("wave", "float32", ("batch", "samples")),), ())
    with pytest.raises(ProfileError, match=r"input 'wave' axis 1 \('samples'\).*batch, frames"):
        profile_for(signature, bounds_from_config(EXPORT))


@pytest.mark.parametrize(
    ("values", "message"),
    [((4, 2, 8), "min <= opt <= max"), ((0, 1, 2), "min must be >= 1"), ((1, 2), "give")],
)
def test_bad_range_names_the_axis(values: tuple[int, ...], message: str) -> None:
    with pytest.raises(ProfileError, match=rf"axis 'tokens': .*{message}"):
        override_bounds(bounds_from_config(EXPORT), {"tokens": values})


def test_overrides_replace_only_given_axes() -> None:
    base = bounds_from_config(EXPORT)
    merged = override_bounds(base, {"tokens": (2, 3, 4), "batch": ()})
    assert merged["tokens"] == AxisRange(2, 3, 4)
    assert merged["batch"] == base["batch"]


def test_no_bounds_is_an_error() -> None:
    with pytest.raises(ProfileError, match="at least one"):
        compute_profiles(acoustic_signature(80), [])


def test_split_makes_one_profile_per_piece_and_select_picks_the_covering_one() -> None:
    bounds = override_bounds(bounds_from_config(EXPORT), {"tokens": (1, 100, 1000)})
    tables = split_bounds(bounds, [64, 256])
    profiles = compute_profiles(acoustic_signature(80), tables)
    assert [t["tokens"] for t in tables] == [
        AxisRange(1, 64, 64),
        AxisRange(65, 100, 256),
        AxisRange(257, 1000, 1000),
    ]
    shapes = {"tokens": (2, 300), "token_lengths": (2,), "speakers": (2,), "pace": (2,)}
    assert select_profile(profiles, shapes) == 2
    shapes["tokens"] = (2, 64)
    assert select_profile(profiles, shapes) == 0
    assert select_profile(profiles, shapes, prefer=2) == 0  # preferred one does not cover


def test_select_prefers_the_current_profile_when_several_cover() -> None:
    wide = Profile((("x", ShapeRange((1,), (4,), (10,))),))
    narrow = Profile((("x", ShapeRange((1,), (2,), (5,))),))
    assert select_profile([wide, narrow], {"x": (3,)}) == 0
    assert select_profile([wide, narrow], {"x": (3,)}, prefer=1) == 1


def test_misfit_names_input_axis_and_ranges() -> None:
    profiles = compute_profiles(vocoder_signature(80), [bounds_from_config(EXPORT)])
    shapes = {"mel": (1, 80, EXPORT.frames_max + 1)}
    assert select_profile(profiles, shapes) is None
    message = describe_misfit(profiles, shapes)
    assert "'mel'" in message and "axis 2" in message and f"1..{EXPORT.frames_max}" in message


@given(
    low=st.integers(1, 50),
    span=st.integers(0, 500),
    edges=st.lists(st.integers(1, 600), max_size=4),
)
def test_split_pieces_partition_the_range(low: int, span: int, edges: list[int]) -> None:
    rng = AxisRange(low, low + span // 2, low + span)
    pieces = [t["frames"] for t in split_bounds({"frames": rng}, edges)]
    assert pieces[0].min == rng.min and pieces[-1].max == rng.max
    for a, b in itertools.pairwise(pieces):
        assert b.min == a.max + 1
    assert all(p.min <= p.opt <= p.max for p in pieces)


def test_profiles_checked_against_the_parsed_network() -> None:
    profiles = compute_profiles(vocoder_signature(80), [bounds_from_config(EXPORT)])
    check_network(profiles, {"mel": (-1, 80, -1)})
    with pytest.raises(ProfileError, match="'mel' axis 1: the model fixes size 100"):
        check_network(profiles, {"mel": (-1, 100, -1)})
    with pytest.raises(ProfileError, match="'mel': the model has 2 dimensions"):
        check_network(profiles, {"mel": (-1, -1)})
    with pytest.raises(ProfileError, match="model input 'extra' has no shape range"):
        check_network(profiles, {"mel": (-1, 80, -1), "extra": (1,)})
    with pytest.raises(ProfileError, match="'mel' is not an input"):
        check_network(profiles, {})


def test_profile_dict_round_trip() -> None:
    (profile,) = compute_profiles(acoustic_signature(80), [bounds_from_config(EXPORT)])
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


# --- cache keys ---------------------------------------------------------------------------


def _key_parts(**changes: object) -> dict[str, object]:
    (profile,) = compute_profiles(vocoder_signature(80), [bounds_from_config(EXPORT)])
    parts: dict[str, object] = {
        "onnx_sha256": "a" * 64,
        "tensorrt": "10.9.0.34",
        "gpu": GPU,
        "profiles": (profile,),
        "precision": "fp16",
        "options": {"keep_fp32_layers": ["*norm*"], "builder_optimization_level": 3},
    }
    parts.update(changes)
    return parts


def test_cache_key_is_stable() -> None:
    key = engine_key(**_key_parts())  # type: ignore[arg-type]
    assert key == engine_key(**_key_parts())  # type: ignore[arg-type]
    reordered = {"builder_optimization_level": 3, "keep_fp32_layers": ("*norm*",)}
    assert key == engine_key(**_key_parts(options=reordered))  # type: ignore[arg-type]
    assert len(key) == 64 and int(key, 16) >= 0


def _other_profile() -> tuple[Profile, ...]:
    bounds = override_bounds(bounds_from_config(EXPORT), {"frames": (1, 256, 2048)})
    return compute_profiles(vocoder_signature(80), [bounds])


@pytest.mark.parametrize(
    "change",
    [
        {"onnx_sha256": "b" * 64},
        {"tensorrt": "10.10.0.31"},
        {"gpu": GpuIdentity(name="NVIDIA L4", compute_capability=(9, 0))},
        {"gpu": GpuIdentity(name=GPU.name, compute_capability=(8, 9))},
        {"profiles": _other_profile()},
        {"precision": "fp32"},
        {"options": {"keep_fp32_layers": ["*softmax*"], "builder_optimization_level": 3}},
    ],
    ids=["onnx", "tensorrt", "gpu", "compute-capability", "profiles", "precision", "options"],
)
def test_cache_key_changes_with_each_input(change: dict[str, object]) -> None:
    assert engine_key(**_key_parts(**change)) != engine_key(**_key_parts())  # type: ignore[arg-type]


def test_engine_paths_and_timing_cache_name() -> None:
    key = engine_key(**_key_parts())  # type: ignore[arg-type]
    paths = engine_paths("/cache", key)
    assert paths.plan == Path("/cache") / f"{key}.plan"
    assert paths.sidecar == Path("/cache") / f"{key}.json"
    with pytest.raises(BackendError, match="64 hex digits"):
        engine_paths("/cache", "../evil")
    assert timing_cache_name("10.9", GPU) == "timing-trt10.9-nvidia-h100-80gb-hbm3-sm9.0.cache"


def test_sidecar_round_trip_and_bundle_entry() -> None:
    key = EngineKey(**_key_parts())  # type: ignore[arg-type]
    data = make_sidecar(
        key, plan_sha256="c" * 64, plan_size=10, plan_file="k.plan", stage="vocoder"
    )
    record = parse_sidecar(json.loads(json.dumps(data)), "x.json")
    assert (record.key, record.precision, record.gpu, record.profiles) == (
        key.digest,
        "fp16",
        GPU,
        key.profiles,
    )
    entry = bundle_entry(data)
    assert entry["file"] == "engines/k.plan" and entry["stage"] == "vocoder"
    assert set(entry) == {"stage", "file", "key", "precision", "profiles", "tensorrt", "gpu"}


@pytest.mark.parametrize("field", ["key", "precision", "profiles", "gpu"])
def test_sidecar_missing_field_is_named(field: str) -> None:
    data = make_sidecar(EngineKey(**_key_parts()), plan_sha256="", plan_size=0, plan_file="k")  # type: ignore[arg-type]
    del data[field]
    with pytest.raises(BackendError, match=rf"x.json: \$\.{field}: missing"):
        parse_sidecar(data, "x.json")


def test_incompatibility_names_version_and_gpu() -> None:
    data = make_sidecar(EngineKey(**_key_parts()), plan_sha256="", plan_size=0, plan_file="k")  # type: ignore[arg-type]
    record = parse_sidecar(data, "x.json")
    assert incompatibility(record, tensorrt="10.9.0.34", gpu=GPU) is None
    assert "TensorRT 10.9.0.34, this is TensorRT 10.1" in str(
        incompatibility(record, tensorrt="10.1", gpu=GPU)
    )
    other = GpuIdentity(name="NVIDIA L4", compute_capability=(8, 9))
    assert "this GPU is NVIDIA L4 (sm 8.9)" in str(
        incompatibility(record, tensorrt="10.9.0.34", gpu=other)
    )


def test_store_saves_finds_and_rejects_a_changed_engine(tmp_path: Path) -> None:
    store = EngineStore(tmp_path)
    key = EngineKey(**_key_parts())  # type: ignore[arg-type]
    assert store.lookup(key) is None
    saved = store.save(key, b"engine bytes", stage="vocoder")
    found = store.lookup(key)
    assert found is not None and found.data == b"engine bytes" and found.plan == saved.plan
    assert json.loads(saved.plan.with_suffix(".json").read_text())["stage"] == "vocoder"
    saved.plan.write_bytes(b"tampered")
    with pytest.warns(RuntimeWarning, match="does not match its description; ignoring it"):
        assert store.lookup(key) is None


# --- buffers ------------------------------------------------------------------------------


@pytest.mark.parametrize("nbytes", [0, 1, 255, 256, 257, 1000, 4096, 4097, 10**6])
def test_capacity_is_the_next_power_of_two(nbytes: int) -> None:
    size = grown_capacity(nbytes)
    assert size >= max(nbytes, MIN_BYTES) and size & (size - 1) == 0
    assert size < 2 * max(nbytes, MIN_BYTES)


def test_capacity_respects_the_cap() -> None:
    assert grown_capacity(5000, cap=6000) == 6000
    assert grown_capacity(7000, cap=6000) == 7000  # the tensor itself is bigger than the cap
    assert grown_capacity(3000, cap=6000) == 4096


def test_dtype_sizes() -> None:
    assert tensor_nbytes((2, 80, 10), "float32") == 2 * 80 * 10 * 4
    assert tensor_nbytes((2, 80, 10), "float16") == 2 * 80 * 10 * 2
    assert tensor_nbytes((3, 7), np.int64) == 3 * 7 * 8
    assert tensor_nbytes((3, 0), "bool") == 0
    with pytest.raises(ValueError, match="unresolved"):
        tensor_nbytes((3, -1), "float32")


def test_plan_keeps_buffers_when_tensors_shrink() -> None:
    first = BufferPlan.make({}, {"x": 4000, "y": 100})
    assert set(first.allocate) == {"x", "y"}
    current = dict(first.allocate)
    smaller = BufferPlan.make(current, {"x": 10, "y": 0})
    assert smaller.empty and set(smaller.keep) == {"x", "y"}


def test_plan_grows_only_the_buffers_that_got_too_small() -> None:
    plan = BufferPlan.make({"x": 4096, "y": 256}, {"x": 4000, "y": 300})
    assert plan.allocate == {"y": 512} and plan.keep == ("x",)


def test_growth_is_geometric() -> None:
    current: dict[str, int] = {}
    allocations = 0
    for length in range(1, 20001, 7):  # an input growing a little at a time
        plan = BufferPlan.for_tensors(current, {"mel": ((1, 80, length), "float32")})
        allocations += len(plan.allocate)
        current.update(plan.allocate)
    assert allocations <= (80 * 4 * 20001).bit_length() - MIN_BYTES.bit_length() + 2


class _CountingCuda:
    def __init__(self) -> None:
        self.live: dict[int, int] = {}
        self.next = 4096
        self.peak = 0

    def malloc(self, nbytes: int) -> int:
        self.next += 1 << 30
        self.live[self.next] = nbytes
        self.peak = max(self.peak, sum(self.live.values()))
        return self.next

    def free(self, pointer: int) -> None:
        del self.live[pointer]


def test_device_buffers_free_before_growing() -> None:
    cuda = _CountingCuda()
    buffers = DeviceBuffers(cuda)
    buffers.apply(BufferPlan.make({}, {"x": 1000}))
    first = buffers.address("x")
    assert buffers.ensure("x", 900) == first  # fits: same memory
    grown = buffers.ensure("x", 5000)
    assert grown != first and list(cuda.live) == [grown] and cuda.peak == 8192
    assert buffers.allocations == 2
    buffers.close()
    assert cuda.live == {}


# --- the spec, options, imports -----------------------------------------------------------


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@pytest.mark.skipif(
    _installed("tensorrt") or _installed("cuda.bindings"), reason="tensorrt/cuda-python present"
)
def test_spec_reports_what_to_install() -> None:
    registry = Registry.discover(entry_points=False, plugins=[autovoice_tensorrt])
    spec = registry.get("backend", "tensorrt")
    expected = "unavailable: needs tensorrt, cuda-python (pip install 'autovoice[tensorrt]')"
    assert str(spec.availability()) == expected
    with pytest.raises(PluginUnavailableError, match=r"backend 'tensorrt' is unavailable: needs"):
        spec.load()


def test_importing_the_plugin_imports_no_tensorrt_cuda_or_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        import autovoice_tensorrt, autovoice_tensorrt.backend, autovoice_tensorrt.engines
        import autovoice_tensorrt.probe
        from autovoice.plugins import Registry
        spec = Registry.discover(entry_points=False, plugins=[autovoice_tensorrt]).get(
            "backend", "tensorrt")
        spec.availability()
        print(sorted(m for m in ("tensorrt", "cuda", "torch", "onnxruntime") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip()
    if _installed("cuda.bindings"):  # find_spec of cuda.bindings imports the `cuda` namespace
        loaded = loaded.replace("'cuda', ", "").replace("'cuda'", "")
    assert loaded == "[]", out.stdout


def test_options_structure_from_toml_values() -> None:
    options = structure({"tokens": [2, 64, 256], "keep_fp32_layers": ["*norm*"]}, TensorRTOptions)
    assert options.tokens == (2, 64, 256) and options.keep_fp32_layers == ("*norm*",)
    with pytest.raises(ConfigError, match=r"\$\.tokens: must be empty or \[min, opt, max\]"):
        structure({"tokens": [64, 2, 256]}, TensorRTOptions)
    with pytest.raises(ConfigError, match=r"\$\.builder_optimization_level"):
        structure({"builder_optimization_level": 9}, TensorRTOptions)


def test_precision_bounds_and_key_options_follow_options_then_export() -> None:
    assert precision_of(TensorRTOptions(), ExportConfig(fp16=True)) == "fp16"
    assert precision_of(TensorRTOptions(fp16=False), ExportConfig(fp16=True)) == "fp32"
    assert precision_of(TensorRTOptions(), None) == "fp32"
    tables = axis_bounds(TensorRTOptions(batch=(1, 2, 3), split_time_at=(100,)), EXPORT)
    assert len(tables) == 2 and all(t["batch"] == AxisRange(1, 2, 3) for t in tables)
    assert tables[0]["tokens"].max == 100 and tables[1]["tokens"].min == 101
    assert "keep_fp32_layers" in build_options(TensorRTOptions(), "fp16")
    assert "keep_fp32_layers" not in build_options(TensorRTOptions(), "fp32")


def test_device_and_artifact_checks(tmp_path: Path) -> None:
    assert (cuda_index("cuda"), cuda_index("cuda:2"), cuda_index("auto")) == (0, 2, 0)
    for bad in ("cpu", "cuda:x", "auto:1"):
        with pytest.raises(BackendError, match="CUDA GPUs only"):
            cuda_index(bad)
    with pytest.raises(BackendError, match="no such model file"):
        artifact_path(tmp_path / "missing.onnx")
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(BackendError, match=r"loads \.onnx models and engines"):
        artifact_path(tmp_path / "model.bin")


@pytest.mark.parametrize(
    ("name", "kind", "kept"),
    [
        ("/decoder/layers.0/norm1/LayerNormalization", "NORMALIZATION", True),
        ("/attn/Softmax", "SOFTMAX", True),
        ("/duration/Exp", "UNARY", True),
        ("node_42", "NORMALIZATION", True),
        ("/decoder/conv1/Conv", "CONVOLUTION", False),
        ("/proj/MatMul", "MATRIX_MULTIPLY", False),
    ],
)
def test_fp32_layer_patterns(name: str, kind: str, kept: bool) -> None:
    assert keeps_fp32(name, kind, TensorRTOptions().keep_fp32_layers) is kept


def test_stage_models_read_the_bundle_manifest(tmp_path: Path) -> None:
    for name in ("a.onnx", "vocoder.onnx"):
        (tmp_path / name).write_bytes(b"")
    signature = acoustic_signature(40)
    manifest = {"acoustic": {"onnx": "a.onnx", "signature": signature.to_dict()}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    models = stage_models(tmp_path, 80)
    assert models["transformer"] == (tmp_path / "a.onnx", signature)
    assert models["vocoder"] == (tmp_path / "vocoder.onnx", vocoder_signature(80))
    (tmp_path / "vocoder.onnx").unlink()
    with pytest.raises(BackendError, match=r"vocoder.onnx: no such ONNX model \(stage vocoder\)"):
        stage_models(tmp_path, 80)


# --- CUDA calls and the probe, against a stand-in runtime ----------------------------------


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

    def __init__(self, devices: int = 1, limit: int | None = None) -> None:
        self.devices, self.limit = devices, limit
        self.memory: dict[int, tuple[ctypes.Array[ctypes.c_char], int]] = {}

    def cudaGetErrorString(self, err: FakeError) -> tuple[FakeError, bytes]:
        return OK, f"explained {err.name}".encode()

    def cudaGetDeviceCount(self) -> tuple[FakeError, int]:
        return (OK, self.devices) if self.devices else (FakeError.cudaErrorNoDevice, 0)

    def cudaSetDevice(self, index: int) -> tuple[FakeError]:
        return (OK,)

    def cudaGetDeviceProperties(self, index: int) -> tuple[FakeError, SimpleNamespace]:
        return OK, SimpleNamespace(name=b"Fake GPU\0\0\0", major=8, minor=9)

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


def test_check_returns_values_and_names_the_failed_call() -> None:
    rt = FakeRuntime()
    assert check(rt, "cudaFree", (OK,)) is None
    assert check(rt, "cudaMalloc", (OK, 5)) == 5
    assert check(rt, "x", (OK, 1, 2)) == (1, 2)
    with pytest.raises(CudaError, match=r"cudaMalloc failed: cudaErrorMemoryAllocation \(expl"):
        check(rt, "cudaMalloc", (FakeError.cudaErrorMemoryAllocation, 0))


def test_cuda_wrapper_reads_the_gpu_and_versions() -> None:
    cuda = Cuda(FakeRuntime())
    assert cuda.gpu(0) == GpuIdentity(name="Fake GPU", compute_capability=(8, 9))
    assert cuda.versions()["cuda_runtime"] == "12.8"
    with pytest.raises(CudaError, match="cudaGetDeviceCount failed: cudaErrorNoDevice"):
        Cuda(FakeRuntime(devices=0)).device_count()


def test_probe_reasons() -> None:
    assert reason("10.9.0", FakeRuntime()) is None
    assert reason("8.6.1", FakeRuntime()) == "needs TensorRT 10 or newer, found 8.6.1"
    assert "no CUDA device visible (cudaGetDeviceCount: cudaErrorNoDevice" in str(
        reason("10.9.0", FakeRuntime(devices=0))
    )


# --- a session end to end, against stand-ins for TensorRT and CUDA ------------------------


class Named:
    def __init__(self, name: str) -> None:
        self.name = name


class FakeAllocatorBase:
    def __init__(self) -> None:
        pass


FAKE_TRT = SimpleNamespace(IOutputAllocator=FakeAllocatorBase, __version__="10.9.0.34")

# y = 2x + 1 on x float32 [batch, time]; k = indices where n > 1 (a data-dependent size)
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
        allocator = self.allocators["k"]
        address = allocator.reallocate_output_async("k", 0, k.nbytes, 256, stream)  # type: ignore[attr-defined]
        if address is None:
            return False
        if k.nbytes:
            self.rt.device_view(address, k.nbytes, "int64")[:] = k
        allocator.notify_shape("k", k.shape)  # type: ignore[attr-defined]
        return True


def _session(rt: FakeRuntime) -> TensorRTSession:
    signature = GraphSignature(
        (TensorSpec("x", "float32", ("batch", "time")), TensorSpec("n", "int64", ("batch",))),
        (TensorSpec("y", "float32", ("batch", "time")), TensorSpec("k", "int64", ("hits",))),
    )
    key = EngineKey(**_key_parts())  # type: ignore[arg-type]
    record = parse_sidecar(make_sidecar(key, plan_sha256="", plan_size=0, plan_file="k"), "s")
    return TensorRTSession(
        FakeEngine(rt),
        cuda=Cuda(rt),
        trt=FAKE_TRT,
        path="tiny.plan",
        record=record,
        signature=signature,
        gpu=Cuda(rt).gpu(0),
    )


def _feed(batch: int, time: int) -> dict[str, np.ndarray]:
    x = np.arange(batch * time, dtype=np.float32).reshape(batch, time) / 3
    return {"x": x, "n": np.arange(batch, dtype=np.int64)}


def test_session_runs_at_several_shapes_and_grows_buffers_only_when_needed() -> None:
    rt = FakeRuntime()
    session = _session(rt)
    allocations = []
    for batch, time in [(2, 4), (1, 3), (4, 40), (3, 64), (2, 5)]:
        feed = _feed(batch, time)
        out = session.run(feed)
        np.testing.assert_array_equal(out["y"], feed["x"] * 2 + 1)
        np.testing.assert_array_equal(out["k"], np.flatnonzero(feed["n"] > 1))
        allocations.append(session.buffer_allocations)
    assert allocations[1] == allocations[0]  # smaller input: same buffers
    assert allocations[2] > allocations[1]  # much longer input: grown
    assert allocations[4] == allocations[3]  # back to short (other profile): nothing new
    assert session.get_engine_info()["buffers"]["x"] >= 4 * 64 * 4


def test_session_describes_the_engine() -> None:
    session = _session(FakeRuntime())
    info = session.get_engine_info()
    assert [t["name"] for t in info["inputs"]] == ["x", "n"]
    assert info["inputs"][0] == {"name": "x", "dtype": "float32", "shape": ["batch", "time"]}
    assert info["outputs"][1] == {"name": "k", "dtype": "int64", "shape": ["hits"]}
    assert info["profiles"][1]["x"] == {"min": [1, 9], "opt": [2, 32], "max": [4, 64]}
    assert info["precision"] == "fp16"
    assert info["device"] == {"index": 0, "name": "Fake GPU", "compute_capability": "8.9"}
    assert info["versions"]["tensorrt"] == "10.9.0.34"
    assert info["versions"]["cuda_runtime"] == "12.8"


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ({"x": np.zeros((1, 2), np.float64), "n": np.zeros(1, np.int64)}, "dtype float64"),
        ({"x": np.zeros(2, np.float32), "n": np.zeros(1, np.int64)}, "has 1 dimensions"),
        ({"x": np.zeros((1, 2), np.float32)}, "missing input 'n'"),
        ({**_feed(1, 2), "z": np.zeros(1)}, "unexpected input 'z'"),
        (_feed(1, 65), r"'x' has size 65 on axis 1; the engine takes 1..8, 9..64"),
        ([1, 2], "must map names to numpy arrays"),
    ],
)
def test_session_input_errors_name_the_input(feed: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _session(FakeRuntime()).run(feed)  # type: ignore[arg-type]


def test_failed_cuda_call_is_named_and_closed_session_refuses() -> None:
    session = _session(FakeRuntime(limit=512))
    with pytest.raises(CudaError, match="cudaMalloc failed: cudaErrorMemoryAllocation"):
        session.run(_feed(4, 64))
    session.close()
    with pytest.raises(BackendError, match="closed"):
        session.run(_feed(1, 1))


def test_closing_frees_all_device_memory() -> None:
    rt = FakeRuntime()
    with _session(rt) as session:
        session.run(_feed(2, 10))
        assert rt.memory
    assert rt.memory == {}


def test_store_ignores_an_engine_without_a_readable_sidecar(tmp_path: Path) -> None:
    store = EngineStore(tmp_path)
    key = EngineKey(**_key_parts())  # type: ignore[arg-type]
    saved = store.save(key, b"engine bytes")
    sidecar = saved.plan.with_suffix(".json")
    sidecar.write_text("{not json")
    with pytest.warns(RuntimeWarning, match="cannot read the engine description"):
        assert store.lookup(key) is None
    sidecar.unlink()
    with pytest.warns(RuntimeWarning, match=r"has no .*\.json beside it"):
        assert store.lookup(key) is None


# --- the builder's calls, against a stand-in for TensorRT ---------------------------------


class FakeTensor:
    def __init__(self, name: str, dtype: str, shape: tuple[int, ...] = ()) -> None:
        self.name, self.dtype, self.shape = name, Named(dtype), shape


class FakeLayer:
    def __init__(self, name: str, kind: str, dtype: str) -> None:
        self.name, self.type = name, Named(kind)
        self.outputs = [FakeTensor(name + ":0", dtype)]
        self.num_outputs = 1
        self.precision: object = None
        self.output_types: dict[int, object] = {}

    def get_output(self, index: int) -> FakeTensor:
        return self.outputs[index]

    def set_output_type(self, index: int, dtype: object) -> None:
        self.output_types[index] = dtype


class FakeNetwork:
    def __init__(self) -> None:
        self.inputs = [FakeTensor("mel", "FLOAT", (-1, 80, -1))]
        self.layers = [
            FakeLayer("/norm/LayerNormalization", "NORMALIZATION", "FLOAT"),
            FakeLayer("/conv/Conv", "CONVOLUTION", "FLOAT"),
            FakeLayer("/len/Exp_int", "UNARY", "INT64"),
        ]
        self.num_inputs, self.num_layers = len(self.inputs), len(self.layers)

    def get_input(self, index: int) -> FakeTensor:
        return self.inputs[index]

    def get_layer(self, index: int) -> FakeLayer:
        return self.layers[index]


class FakeBuilderTrt:
    """The calls build_engine makes, recorded."""

    float32 = "float32"
    MemoryPoolType = SimpleNamespace(WORKSPACE="workspace")
    BuilderFlag = SimpleNamespace(
        FP16="fp16", PREFER_PRECISION_CONSTRAINTS="prefer", OBEY_PRECISION_CONSTRAINTS="obey"
    )

    def __init__(self) -> None:
        self.network = FakeNetwork()
        self.flags: list[str] = []
        self.profiles: list[dict[str, tuple[object, ...]]] = []
        self.config = SimpleNamespace(
            set_memory_pool_limit=lambda pool, size: setattr(self, "workspace", size),
            set_flag=self.flags.append,
            add_optimization_profile=lambda p: self.profiles.append(p.shapes) or 0,
            create_timing_cache=lambda data: SimpleNamespace(data=bytes(data)),
            set_timing_cache=lambda cache, ignore_mismatch: (
                setattr(self, "cache_in", cache.data) or True
            ),
            get_timing_cache=lambda: SimpleNamespace(serialize=lambda: b"timings"),
        )

    def Builder(self, logger: object) -> SimpleNamespace:
        def profile() -> SimpleNamespace:
            shapes: dict[str, tuple[object, ...]] = {}
            return SimpleNamespace(shapes=shapes, set_shape=lambda n, *s: shapes.update({n: s}))

        return SimpleNamespace(
            create_network=lambda flags: self.network,
            create_builder_config=lambda: self.config,
            create_optimization_profile=profile,
            build_serialized_network=lambda network, config: b"plan bytes",
        )

    def OnnxParser(self, network: object, logger: object) -> SimpleNamespace:
        return SimpleNamespace(parse_from_file=lambda path: True, num_errors=0)


def test_build_engine_sets_profiles_precision_and_timing_cache(tmp_path, monkeypatch) -> None:
    import autovoice_tensorrt.build as build_module

    fake = FakeBuilderTrt()
    monkeypatch.setattr(build_module, "tensorrt_module", lambda: fake)
    monkeypatch.setattr(build_module, "trt_logger", lambda: None)
    onnx = tmp_path / "vocoder.onnx"
    onnx.write_bytes(b"")
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"old timings")
    profiles = compute_profiles(vocoder_signature(80), [bounds_from_config(EXPORT)])
    data = build_module.build_engine(
        onnx,
        profiles,
        fp16=True,
        timing_cache=cache,
        workspace=1 << 20,
        keep_fp32_layers=["*norm*", "*exp*"],
    )
    assert data == b"plan bytes" and fake.workspace == 1 << 20
    assert fake.profiles == [
        {"mel": (profiles[0]["mel"].min, profiles[0]["mel"].opt, profiles[0]["mel"].max)}
    ]
    assert fake.flags == ["fp16", "prefer"]
    norm, conv, integer = fake.network.layers
    assert norm.precision == "float32" and norm.output_types == {0: "float32"}
    assert conv.precision is None and integer.precision is None  # not matched / not floating
    assert fake.cache_in == b"old timings" and cache.read_bytes() == b"timings"


def test_build_engine_checks_the_network_against_the_profiles(tmp_path, monkeypatch) -> None:
    import autovoice_tensorrt.build as build_module

    fake = FakeBuilderTrt()
    monkeypatch.setattr(build_module, "tensorrt_module", lambda: fake)
    monkeypatch.setattr(build_module, "trt_logger", lambda: None)
    onnx = tmp_path / "vocoder.onnx"
    onnx.write_bytes(b"")
    profiles = compute_profiles(vocoder_signature(100), [bounds_from_config(EXPORT)])
    with pytest.raises(ProfileError, match="'mel' axis 1: the model fixes size 80"):
        build_module.build_engine(onnx, profiles)
    with pytest.raises(BackendError, match="no such ONNX model file"):
        build_module.build_engine(tmp_path / "missing.onnx", profiles)
