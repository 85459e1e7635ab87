"""The tensorrt backend's parts that need no GPU: profiles, cache keys, buffer growth, the spec,
CUDA error checks, and a session run end to end against stand-ins for TensorRT and CUDA."""

from __future__ import annotations

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
from autovoice_tensorrt.fp16 import FORMAT as FP16_FORMAT
from autovoice_tensorrt.fp16 import keeps_fp32
from autovoice_tensorrt.probe import reason, version_problem
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

from _fake_tensorrt import (  # isort: skip
    VERSIONS,
    FakeAllocatorBase,
    FakeEngine,
    FakeError,
    FakeRuntime,
    OK,
)

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
    shapes = {name: (2,) for name in acoustic_signature(80).input_names}
    shapes["tokens"] = (2, 300)
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
    options = structure({"tokens": [2, 64, 256], "keep_fp32_ops": ["Softmax"]}, TensorRTOptions)
    assert options.tokens == (2, 64, 256) and options.keep_fp32_ops == ("Softmax",)
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
    fp16 = build_options(TensorRTOptions(), "fp16")
    assert fp16["keep_fp32_ops"] == list(TensorRTOptions().keep_fp32_ops)
    assert fp16["fp16_graph"] == FP16_FORMAT and fp16["network"] == "strongly-typed"
    assert "keep_fp32_ops" not in build_options(TensorRTOptions(), "fp32")


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
    ("name", "op_type", "kept"),
    [
        ("/decoder/layers.0/norm1/LayerNormalization", "LayerNormalization", True),
        ("/attn/Softmax", "Softmax", True),
        ("/duration/Exp", "Exp", True),
        ("/encoder/pos/Sin", "Sin", True),
        ("/lengths/CumSum", "CumSum", True),
        ("node_42", "BatchNormalization", True),
        ("/decoder/conv1/Conv", "Conv", False),
        ("/proj/MatMul", "MatMul", False),
        ("/expand/Expand", "Expand", False),  # not "Exp"
        ("/logits/Add", "Add", False),
    ],
)
def test_fp32_op_patterns(name: str, op_type: str, kept: bool) -> None:
    assert keeps_fp32(name, op_type, TensorRTOptions().keep_fp32_ops) is kept


def test_removed_options_are_unknown_keys() -> None:
    for key in ("keep_fp32_layers", "precision_constraints"):
        with pytest.raises(ConfigError, match=rf"\$\.{key}: unknown key"):
            structure({key: "obey"}, TensorRTOptions)


def test_stage_models_read_the_bundle_manifest(tmp_path: Path) -> None:
    for name in ("a.onnx", "vocoder.onnx"):
        (tmp_path / name).write_bytes(b"")
    signature = acoustic_signature(40)
    manifest = {"acoustic": {"onnx": "a.onnx", "signature": signature.to_dict()}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    models = stage_models(tmp_path, 80)
    assert models["acoustic"] == (tmp_path / "a.onnx", signature)
    assert models["vocoder"] == (tmp_path / "vocoder.onnx", vocoder_signature(80))
    (tmp_path / "vocoder.onnx").unlink()
    with pytest.raises(BackendError, match=r"vocoder.onnx: no such ONNX model \(stage vocoder\)"):
        stage_models(tmp_path, 80)


# --- CUDA calls and the probe, against a stand-in runtime ----------------------------------


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


@pytest.mark.parametrize("version", VERSIONS)
def test_supported_versions_pass_the_probe(version: str) -> None:
    assert version_problem(version) is None
    assert reason(version, FakeRuntime()) is None


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("8.6.1", "needs TensorRT 10.12 to 11.x (strongly typed networks), found TensorRT 8.6.1"),
        ("10.11.0.33", "needs TensorRT 10.12 to 11.x (strongly typed networks)"),
        ("12.0.0.1", "TensorRT 12.0.0.1 is newer than this backend supports (TensorRT 10.12"),
        ("unknown", "cannot read the TensorRT version 'unknown'"),
    ],
)
def test_unsupported_versions_are_named(version: str, message: str) -> None:
    assert message in str(reason(version, FakeRuntime()))
    assert "pip install 'autovoice[tensorrt]'" in str(version_problem(version)) or (
        version == "unknown"
    )


def test_probe_names_a_missing_device() -> None:
    assert "no CUDA device visible (cudaGetDeviceCount: cudaErrorNoDevice" in str(
        reason(VERSIONS[0], FakeRuntime(devices=0))
    )


def test_an_unsupported_version_is_refused_when_loading(monkeypatch) -> None:
    import autovoice_tensorrt.build as build_module

    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.9.0.34"))
    with pytest.raises(BackendError, match=r"backend needs TensorRT 10.12 to 11.x .* 10.9.0.34"):
        build_module.tensorrt_module()


# --- a session end to end, against stand-ins for TensorRT and CUDA ------------------------


FAKE_TRT = SimpleNamespace(IOutputAllocator=FakeAllocatorBase, __version__=VERSIONS[-1])


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
    assert info["versions"]["tensorrt"] == VERSIONS[-1]
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
