"""The built-in onnxruntime backend, on a tiny ONNX graph built here."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import attrs
import numpy as np
import pytest

from autovoice.errors import AutovoiceError, PluginUnavailableError
from autovoice.plugins import Registry
from autovoice.specs import BackendSpec, Requirement
from autovoice_onnxruntime import SPEC, OnnxRuntimeOptions
from autovoice_onnxruntime.errors import BackendError, InputError

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _tiny_model(path: Path) -> Path:
    """``y = x * 2 + 1`` on float32 [batch, time] and ``z = n + 1`` on int64 [batch, 1]."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["twice"]),
            helper.make_node("Add", ["twice", "one"], ["y"]),
            helper.make_node("Add", ["n", "one_i"], ["z"]),
        ],
        "tiny",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time"]),
            helper.make_tensor_value_info("n", TensorProto.INT64, ["batch", 1]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time"]),
            helper.make_tensor_value_info("z", TensorProto.INT64, ["batch", 1]),
        ],
        initializer=[
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
            helper.make_tensor("one_i", TensorProto.INT64, [], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("onnx") / "tiny.onnx")


@pytest.fixture(scope="module")
def backend():
    spec = Registry.discover().get("backend", "onnxruntime")
    return spec.create(OnnxRuntimeOptions(intra_op_threads=1))


@pytest.fixture(scope="module")
def session(backend, model_path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return backend.load(model_path)


def _inputs(batch: int, time: int) -> dict[str, np.ndarray]:
    x = np.arange(batch * time, dtype=np.float32).reshape(batch, time) / 7
    return {"x": x, "n": np.arange(batch, dtype=np.int64).reshape(batch, 1)}


def test_describes_inputs_and_outputs(session) -> None:
    shapes = {info.name: (info.dtype, info.shape) for info in session.inputs}
    assert shapes == {"x": ("float32", ("batch", "time")), "n": ("int64", ("batch", 1))}
    assert [(o.name, o.dtype) for o in session.outputs] == [("y", "float32"), ("z", "int64")]
    assert session.providers == ("CPUExecutionProvider",)
    assert session.fallback is None


@pytest.mark.parametrize(("batch", "time"), [(1, 5), (3, 17)])
def test_runs_at_dynamic_shapes(session, batch: int, time: int) -> None:
    feed = _inputs(batch, time)
    out = session.run(feed)
    assert set(out) == {"y", "z"}
    assert out["y"].dtype == np.float32 and out["y"].shape == (batch, time)
    np.testing.assert_allclose(out["y"], feed["x"] * 2 + 1, rtol=1e-6)
    np.testing.assert_array_equal(out["z"], feed["n"] + 1)


@pytest.mark.parametrize("level", ["disable", "basic", "extended", "all"])
def test_every_optimization_level_loads(model_path: Path, level: str) -> None:
    from autovoice_onnxruntime.backend import OnnxRuntimeBackend

    options = OnnxRuntimeOptions(graph_optimization=level, inter_op_threads=1)
    out = OnnxRuntimeBackend(options).load(model_path).run(_inputs(2, 3))
    np.testing.assert_allclose(out["y"], _inputs(2, 3)["x"] * 2 + 1, rtol=1e-6)


def _run_error(session, **changes: object) -> str:
    feed: dict[str, object] = dict(_inputs(2, 4))
    feed.update(changes)
    for name in [k for k, v in feed.items() if v is None]:
        del feed[name]
    with pytest.raises(InputError) as caught:
        session.run(feed)
    assert isinstance(caught.value, AutovoiceError)
    return str(caught.value)


def test_missing_input_is_named_with_the_expected_ones(session, model_path: Path) -> None:
    message = _run_error(session, n=None)
    assert "missing input 'n'" in message
    assert "x (float32 [batch, time])" in message and "n (int64 [batch, 1])" in message
    assert str(model_path) in message


def test_unexpected_input_is_named(session) -> None:
    assert "unexpected input 'speaker'" in _run_error(session, speaker=np.zeros(1))


def test_wrong_dtype_names_input_expected_and_got(session) -> None:
    message = _run_error(session, x=np.zeros((2, 4), dtype=np.float64))
    assert "'x'" in message and "float32" in message and "float64" in message


def test_wrong_rank_is_named(session) -> None:
    message = _run_error(session, x=np.zeros(4, dtype=np.float32))
    assert "'x'" in message and "1 dimensions" in message


def test_wrong_fixed_dimension_is_named(session) -> None:
    message = _run_error(session, n=np.zeros((2, 3), dtype=np.int64))
    assert "'n'" in message and "axis 1" in message


def test_non_array_input_is_named(session) -> None:
    assert "'x'" in _run_error(session, x=[[1.0, 2.0]])


def test_nonexistent_model_names_the_path(backend, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.onnx"
    with pytest.raises(BackendError, match="no such ONNX model file") as caught:
        backend.load(missing)
    assert str(missing) in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"this is not a protobuf \x00\xff\x10"])
def test_invalid_model_names_the_path(backend, tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    with pytest.raises(BackendError) as caught:
        backend.load(str(bad))
    assert str(bad) in str(caught.value)


def test_directory_is_not_a_model(backend, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="is not a file") as caught:
        backend.load(tmp_path)
    assert str(tmp_path) in str(caught.value)


@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_unusable_gpu_falls_back_with_a_warning(backend, model_path: Path, device: str) -> None:
    wanted = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[device]
    if wanted in ort.get_available_providers():
        pytest.skip(f"{wanted} is available here; no fallback to observe")
    with pytest.warns(RuntimeWarning, match=wanted) as caught:
        session = backend.load(model_path, device=device)
    assert session.fallback is not None and wanted in session.fallback
    assert str(caught[0].message) == session.fallback
    assert session.requested_providers[0] == wanted
    assert session.providers[0] != wanted
    np.testing.assert_array_equal(session.run(_inputs(1, 2))["z"], [[1]])


def test_explicit_providers_override_the_device(model_path: Path) -> None:
    from autovoice_onnxruntime.backend import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(OnnxRuntimeOptions(providers=["CPUExecutionProvider"]))
    session = backend.load(model_path, device="cuda")
    assert session.requested_providers == ("CPUExecutionProvider",)
    assert session.fallback is None


def test_unknown_device_and_provider_are_named(backend, model_path: Path) -> None:
    from autovoice_onnxruntime.backend import OnnxRuntimeBackend

    with pytest.raises(BackendError, match="unknown device 'gpu'"):
        backend.load(model_path, device="gpu")
    typo = OnnxRuntimeBackend(OnnxRuntimeOptions(providers=("CUDAProvider",)))
    with pytest.raises(BackendError, match="'CUDAProvider'"):
        typo.load(model_path)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        OnnxRuntimeOptions(graph_optimization="fast")
    with pytest.raises(ValueError, match=">= 0"):
        OnnxRuntimeOptions(intra_op_threads=-1)
    with pytest.raises(ValueError, match="whole number"):
        OnnxRuntimeOptions(inter_op_threads=1.5)
    with pytest.raises(ValueError, match="a list"):
        OnnxRuntimeOptions(providers="CPUExecutionProvider")
    assert OnnxRuntimeOptions(providers=["CPUExecutionProvider"]).providers == (
        "CPUExecutionProvider",
    )
    assert all(field.metadata.get("doc") for field in attrs.fields(OnnxRuntimeOptions))


def test_plugin_import_is_cheap_and_running_never_imports_torch(model_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import autovoice_onnxruntime
        from autovoice.plugins import Registry
        spec = Registry.discover().get("backend", "onnxruntime")
        print("ort-before-load", "onnxruntime" in sys.modules)
        import numpy as np
        session = spec.create(autovoice_onnxruntime.OnnxRuntimeOptions()).load(sys.argv[1])
        out = session.run({"x": np.ones((1, 3), np.float32), "n": np.zeros((1, 1), np.int64)})
        print("y", out["y"].tolist())
        print("torch", "torch" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, str(model_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "ort-before-load False" in lines
    assert "y [[3.0, 3.0, 3.0]]" in lines
    assert "torch False" in lines


def test_missing_requirement_says_what_to_install() -> None:
    fake = BackendSpec(
        name=SPEC.name,
        factory=SPEC.factory,
        requires=(Requirement(module="onnxruntime_does_not_exist", package="onnxruntime"),),
        extra=SPEC.extra,
        accepts=SPEC.accepts,
        devices=SPEC.devices,
        options_type=SPEC.options_type,
    )
    status = fake.availability()
    assert not status.available
    assert "needs onnxruntime" in status.reason
    assert "pip install 'autovoice[onnxruntime]'" in status.reason
    with pytest.raises(PluginUnavailableError, match="needs onnxruntime"):
        fake.load()


def test_registered_spec_matches_the_contract() -> None:
    spec = Registry.discover().get("backend", "onnxruntime")
    assert spec is SPEC or spec == SPEC
    assert spec.accepts == ("onnx",) and spec.devices == ("cpu", "cuda", "tensorrt")
    assert spec.availability().available


# -- CUDA and TensorRT providers (their wiring; no GPU needed) ---------------------------------

TRT_EP, CUDA_EP, CPU_EP = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)


def test_the_tensorrt_option_puts_its_provider_first_on_cuda() -> None:
    from autovoice_onnxruntime.backend import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(OnnxRuntimeOptions(tensorrt=True))
    assert backend.providers_for("cuda:1") == ((TRT_EP, CUDA_EP, CPU_EP), 1)
    assert backend.providers_for("cpu") == ((CPU_EP,), None)
    assert OnnxRuntimeBackend().providers_for("cuda") == ((CUDA_EP, CPU_EP), None)
    assert OnnxRuntimeBackend().providers_for("tensorrt:0") == ((TRT_EP, CUDA_EP, CPU_EP), 0)


def test_tensorrt_provider_options_enable_its_caches_and_fp16(tmp_path: Path) -> None:
    from autovoice_onnxruntime.backend import default_trt_cache_dir, provider_options

    options = OnnxRuntimeOptions(trt_fp16=True, trt_cache_dir=str(tmp_path), trt_workspace_mb=64)
    assert provider_options(options, TRT_EP, 1) == {
        "device_id": "1",
        "trt_fp16_enable": "1",
        "trt_engine_cache_enable": "1",
        "trt_timing_cache_enable": "1",
        "trt_engine_cache_path": str(tmp_path),
        "trt_timing_cache_path": str(tmp_path),
        "trt_max_workspace_size": str(64 << 20),
    }
    plain = provider_options(OnnxRuntimeOptions(trt_engine_cache=False), TRT_EP, None)
    assert plain == {
        "trt_fp16_enable": "0",
        "trt_engine_cache_enable": "0",
        "trt_timing_cache_enable": "0",
    }
    assert provider_options(OnnxRuntimeOptions(), CUDA_EP, 2) == {"device_id": "2"}
    assert provider_options(OnnxRuntimeOptions(), CPU_EP, 2) == {}
    default = provider_options(OnnxRuntimeOptions(), TRT_EP, None)["trt_engine_cache_path"]
    assert default == str(default_trt_cache_dir())
    assert default_trt_cache_dir({"XDG_CACHE_HOME": "/c"}) == Path(
        "/c/autovoice/onnxruntime-tensorrt"
    )


@pytest.fixture
def gpu_onnxruntime(monkeypatch):
    """onnxruntime as a GPU build would look: TensorRT and CUDA providers listed, sessions
    recorded (and run on the CPU), preload_dlls counted."""
    import autovoice_onnxruntime.backend as backend_module

    calls = {"preload": 0, "sessions": []}
    real = ort.InferenceSession

    def session(path, so, providers, provider_options):
        calls["sessions"].append((list(providers), [dict(o) for o in provider_options]))
        return real(path, so, providers=[CPU_EP])

    def preload() -> None:
        calls["preload"] += 1

    monkeypatch.setattr(ort, "get_available_providers", lambda: [TRT_EP, CUDA_EP, CPU_EP])
    monkeypatch.setattr(ort, "InferenceSession", session)
    monkeypatch.setattr(ort, "preload_dlls", preload, raising=False)
    backend_module.preload_gpu_libraries.cache_clear()
    yield calls
    backend_module.preload_gpu_libraries.cache_clear()


def test_gpu_sessions_preload_once_and_get_the_provider_options(
    gpu_onnxruntime, model_path: Path, tmp_path: Path
) -> None:
    from autovoice_onnxruntime.backend import OnnxRuntimeBackend

    cache = tmp_path / "trt"
    backend = OnnxRuntimeBackend(OnnxRuntimeOptions(tensorrt=True, trt_cache_dir=str(cache)))
    for _ in range(2):
        with pytest.warns(RuntimeWarning, match="TensorrtExecutionProvider failed to start"):
            backend.load(model_path, device="cuda:0")
    assert gpu_onnxruntime["preload"] == 1
    providers, options = gpu_onnxruntime["sessions"][0]
    assert providers == [TRT_EP, CUDA_EP, CPU_EP]
    assert options[0]["trt_engine_cache_path"] == str(cache) and cache.is_dir()
    assert options[0]["device_id"] == options[1]["device_id"] == "0" and options[2] == {}


def test_cpu_sessions_and_the_opt_out_preload_nothing(gpu_onnxruntime, model_path: Path) -> None:
    from autovoice_onnxruntime.backend import OnnxRuntimeBackend

    OnnxRuntimeBackend().load(model_path, device="cpu")
    with pytest.warns(RuntimeWarning):
        OnnxRuntimeBackend(OnnxRuntimeOptions(preload_dlls=False)).load(model_path, "cuda")
    assert gpu_onnxruntime["preload"] == 0


def test_an_onnxruntime_without_preload_dlls_is_told_apart(monkeypatch) -> None:
    import autovoice_onnxruntime.backend as backend_module

    monkeypatch.delattr(ort, "preload_dlls", raising=False)
    backend_module.preload_gpu_libraries.cache_clear()
    try:
        assert "has no preload_dlls (1.21 added it)" in str(backend_module.preload_gpu_libraries())
    finally:
        backend_module.preload_gpu_libraries.cache_clear()


def test_new_options_are_validated() -> None:
    with pytest.raises(ValueError, match="true or false"):
        OnnxRuntimeOptions(tensorrt="yes")
    with pytest.raises(ValueError, match=">= 0"):
        OnnxRuntimeOptions(trt_workspace_mb=-1)


def test_the_engine_reaches_the_tensorrt_provider(gpu_onnxruntime, monkeypatch, tmp_path) -> None:
    """From the inference engine's own settings: device cuda and the option, or device
    tensorrt, through to the providers each stage's session asks for."""
    import autovoice.inference.stages as stages
    from autovoice.inference.engine import VoiceInferenceEngine

    monkeypatch.setattr(stages, "_nvidia_nodes", lambda: True)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    options = {"onnxruntime": {"tensorrt": True, "trt_cache_dir": str(tmp_path)}}
    with pytest.warns(RuntimeWarning, match="TensorrtExecutionProvider"):
        engine = VoiceInferenceEngine(
            None, backend="onnxruntime", device="cuda", backend_options=options
        )
    assert all(name.startswith("onnxruntime") for name in engine.backends.values())
    assert [p for p, _ in gpu_onnxruntime["sessions"]] == [[TRT_EP, CUDA_EP, CPU_EP]] * 2
    assert {r.device for r in engine.stages.values()} == {"cuda"}
    with pytest.warns(RuntimeWarning, match="TensorrtExecutionProvider"):
        engine = VoiceInferenceEngine(None, backend="onnxruntime", device="tensorrt")
    assert {r.device for r in engine.stages.values()} == {"tensorrt"}
