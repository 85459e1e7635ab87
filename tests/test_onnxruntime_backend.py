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
    assert spec.accepts == ("onnx",) and spec.devices == ("cpu", "cuda")
    assert spec.availability().available
