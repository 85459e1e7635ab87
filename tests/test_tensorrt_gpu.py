"""The tensorrt backend on a real GPU: engines built from a tiny ONNX model with dynamic axes,
FP32 and FP16, against ONNX Runtime. Skipped without TensorRT, cuda-python or a CUDA device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.gpu, pytest.mark.tensorrt]

trt = pytest.importorskip("tensorrt")
pytest.importorskip("cuda.bindings")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from autovoice_tensorrt.probe import probe  # noqa: E402

_WHY = probe()
if _WHY:
    pytest.skip(f"the tensorrt backend cannot run here: {_WHY}", allow_module_level=True)

import autovoice_tensorrt.backend as backend_module  # noqa: E402
from autovoice.config import ExportConfig  # noqa: E402
from autovoice.signature import GraphSignature, TensorSpec  # noqa: E402
from autovoice_tensorrt import TensorRTOptions  # noqa: E402
from autovoice_tensorrt.backend import TensorRTBackend  # noqa: E402

EXPORT = ExportConfig(
    batch_min=1, batch_opt=2, batch_max=4, frames_min=1, frames_opt=16, frames_max=256
)
SIGNATURE = GraphSignature(
    inputs=(
        TensorSpec("x", "float32", ("batch", 4, "frames")),
        TensorSpec("n", "int64", ("batch",)),
    ),
    outputs=(
        TensorSpec("y", "float32", ("batch", 4, "frames")),
        TensorSpec("z", "int64", ("batch",)),
        TensorSpec("k", "int64", (1, "hits")),
    ),
)
SHAPES = [(2, 8), (1, 3), (4, 200), (3, 17)]  # (batch, frames); 200 forces buffers to grow


def _model(path: Path) -> Path:
    """y = softmax(2x + 1, axis 1) + exp(x / 10); z = n + 1; k = nonzero(n > 1) (its size
    depends on the data)."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Mul", ["x", "two"], ["twice"]),
        helper.make_node("Add", ["twice", "one"], ["shifted"]),
        helper.make_node("Softmax", ["shifted"], ["soft"], axis=1),
        helper.make_node("Mul", ["x", "tenth"], ["small"]),
        helper.make_node("Exp", ["small"], ["grown"]),
        helper.make_node("Add", ["soft", "grown"], ["y"]),
        helper.make_node("Add", ["n", "one_i"], ["z"]),
        helper.make_node("Greater", ["n", "one_i"], ["big"]),
        helper.make_node("NonZero", ["big"], ["k"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, "frames"]),
            helper.make_tensor_value_info("n", TensorProto.INT64, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, "frames"]),
            helper.make_tensor_value_info("z", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("k", TensorProto.INT64, [1, "hits"]),
        ],
        initializer=[
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
            helper.make_tensor("tenth", TensorProto.FLOAT, [], [0.1]),
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
    return _model(tmp_path_factory.mktemp("onnx") / "tiny.onnx")


@pytest.fixture(scope="module")
def reference(model_path: Path):
    return ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])


def _feed(batch: int, frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 31 * batch + frames)
    x = rng.normal(size=(batch, 4, frames)).astype(np.float32)
    return {"x": x, "n": rng.integers(0, 4, size=batch).astype(np.int64)}


def _backend(tmp_path: Path, **options: object) -> TensorRTBackend:
    return TensorRTBackend(TensorRTOptions(engine_cache_dir=str(tmp_path), **options))


@pytest.mark.parametrize(("fp16", "atol"), [(False, 1e-5), (True, 2e-2)])
def test_engine_matches_onnxruntime(tmp_path, model_path, reference, fp16, atol) -> None:
    session = _backend(tmp_path, fp16=fp16).load(
        model_path, "cuda", signature=SIGNATURE, export=EXPORT
    )
    allocations = []
    for batch, frames in SHAPES:
        feed = _feed(batch, frames)
        got = session.run(feed)
        want = dict(zip(["y", "z", "k"], reference.run(None, feed), strict=True))
        np.testing.assert_allclose(got["y"], want["y"], atol=atol, rtol=atol)
        np.testing.assert_array_equal(got["z"], want["z"])
        np.testing.assert_array_equal(got["k"], want["k"])
        allocations.append(session.buffer_allocations)
    assert allocations[1] == allocations[0]  # a smaller input reuses the buffers
    assert allocations[2] > allocations[1]  # a longer one grows them
    assert session.get_engine_info()["precision"] == ("fp16" if fp16 else "fp32")
    session.close()


def test_second_load_reuses_the_cached_engine(tmp_path, model_path, monkeypatch) -> None:
    backend = _backend(tmp_path)
    first = backend.load(model_path, "cuda", signature=SIGNATURE, export=EXPORT)

    def no_build(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the engine was built again")

    monkeypatch.setattr(backend_module, "build_engine", no_build)
    second = backend.load(model_path, "cuda", signature=SIGNATURE, export=EXPORT)
    assert second.path == first.path and len(list(tmp_path.glob("*.plan"))) == 1
    assert second.get_engine_info()["key"] == first.get_engine_info()["key"]
    fp16 = _backend(tmp_path, fp16=True)
    with pytest.raises(AssertionError, match="built again"):  # another precision, another key
        fp16.load(model_path, "cuda", signature=SIGNATURE, export=EXPORT)


def test_engine_file_loads_directly_and_describes_itself(tmp_path, model_path, reference) -> None:
    built = _backend(tmp_path).load(model_path, "cuda", signature=SIGNATURE, export=EXPORT)
    session = _backend(tmp_path / "other").load(built.path, "cuda", signature=SIGNATURE)
    info = session.get_engine_info()
    assert [(t["name"], t["dtype"]) for t in info["inputs"]] == [("x", "float32"), ("n", "int64")]
    assert [t["name"] for t in info["outputs"]] == ["y", "z", "k"]
    assert info["inputs"][0]["shape"] == ["batch", 4, "frames"]
    assert info["profiles"] == [
        {
            "x": {"min": [1, 4, 1], "opt": [2, 4, 16], "max": [4, 4, 256]},
            "n": {"min": [1], "opt": [2], "max": [4]},
        }
    ]
    assert info["precision"] == "fp32" and info["device"]["name"]
    assert info["versions"]["tensorrt"] == trt.__version__
    feed = _feed(2, 9)
    np.testing.assert_allclose(session.run(feed)["y"], reference.run(["y"], feed)[0], atol=1e-5)


def test_input_outside_the_profile_is_named(tmp_path, model_path) -> None:
    from autovoice_tensorrt.engine import InputError

    session = _backend(tmp_path).load(model_path, "cuda", signature=SIGNATURE, export=EXPORT)
    with pytest.raises(InputError, match=r"'x' has size 300 on axis 2; the engine takes 1..256"):
        session.run(_feed(1, 300))


def test_split_profiles_cover_short_and_long_inputs(tmp_path, model_path, reference) -> None:
    backend = _backend(tmp_path, split_time_at=(32,))
    session = backend.load(model_path, "cuda", signature=SIGNATURE, export=EXPORT)
    assert len(session.profiles) == 2
    for batch, frames in [(2, 200), (1, 5), (3, 64)]:
        feed = _feed(batch, frames)
        np.testing.assert_allclose(session.run(feed)["y"], reference.run(["y"], feed)[0], atol=1e-5)


def test_fp16_engine_of_the_shipped_vocoder_is_close_to_its_fp32_graph(tmp_path) -> None:
    """An FP16 engine, built strongly typed from the FP16 copy of a real graph."""
    import json

    from autovoice.signature import GraphSignature

    voice = Path(__file__).resolve().parent.parent / "autovoice" / "voices" / "default"
    manifest = json.loads((voice / "manifest.json").read_text())
    signature = GraphSignature.from_dict(manifest["vocoder"]["signature"])
    session = _backend(tmp_path, fp16=True).load(
        voice / "vocoder.onnx", "cuda", signature=signature, export=EXPORT
    )
    assert session.get_engine_info()["precision"] == "fp16"
    mel = np.random.default_rng(0).normal(size=(1, manifest["audio"]["n_mels"], 64)) - 5
    feed = {signature.inputs[0].name: mel.astype(np.float32)}
    reference = ort.InferenceSession(
        str(voice / "vocoder.onnx"), providers=["CPUExecutionProvider"]
    )
    found = session.run(feed)
    for spec, want in zip(signature.outputs, reference.run(None, feed), strict=True):
        got = found[spec.name]  # the istft vocoder's spectrum parts: see docs/tensorrt.md
        assert np.isfinite(got).all()
        assert np.abs(got - want).max() <= 6e-2 * np.abs(want).max()
    session.close()
