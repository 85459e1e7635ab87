"""Engine builds against stand-ins for each supported TensorRT's Python API (10.12, 10.16,
11.1): strongly typed networks, no weak-typing flag or layer precision, FP16 through an FP16
copy of the graph, profiles, workspace and timing cache."""

from __future__ import annotations

from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")

import autovoice_tensorrt.build as build_module  # noqa: E402
from autovoice.config import ExportConfig  # noqa: E402
from autovoice.errors import BackendError  # noqa: E402
from autovoice.signature import GraphSignature, TensorSpec  # noqa: E402
from autovoice_tensorrt.profiles import (  # noqa: E402
    ProfileError,
    bounds_from_config,
    compute_profiles,
)

from _fake_tensorrt import (  # noqa: E402  # isort: skip
    BUILDER_FLAGS_10,
    NETWORK_FLAGS_10,
    NETWORK_FLAGS_11,
    PRECISION_FLAGS,
    VERSIONS,
    FakeBuilder,
    FakeTensorRT,
    major,
    tensor_types,
    tiny_onnx,
)

FLOAT, HALF = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
SIGNATURE = GraphSignature(
    (TensorSpec("x", "float32", ("batch", "frames", 4)),),
    (TensorSpec("y", "float32", ("batch", "frames", 4)),),
)


@pytest.fixture(params=VERSIONS)
def fake(request, monkeypatch) -> FakeTensorRT:
    trt = FakeTensorRT(request.param)
    monkeypatch.setattr(build_module, "tensorrt_module", lambda: trt)
    monkeypatch.setattr(build_module, "trt_logger", lambda: None)
    return trt


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tiny_onnx(tmp_path / "tiny.onnx")


def _profiles():
    return compute_profiles(SIGNATURE, [bounds_from_config(ExportConfig())])


# -- the stand-ins follow the real bindings ----------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_each_fake_has_exactly_its_versions_names(version: str) -> None:
    trt = FakeTensorRT(version)
    removed = [name for name in PRECISION_FLAGS if not hasattr(trt.BuilderFlag, name)]
    if major(version) >= 11:
        assert removed == PRECISION_FLAGS  # 11 removed weak typing
        assert not hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH")
        assert int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 0  # renumbered
    else:
        assert removed == [] and [f.name for f in trt.BuilderFlag] == BUILDER_FLAGS_10
        assert int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 1
    table = NETWORK_FLAGS_11 if major(version) >= 11 else NETWORK_FLAGS_10
    assert {f.name: int(f) for f in trt.NetworkDefinitionCreationFlag} == table


def test_weak_typing_fails_on_every_supported_version(model: Path) -> None:
    """What the backend did before: an FP16 flag on the builder config. 11 has no such flag;
    10.x refuses it in the strongly typed network the backend now builds."""
    for version in VERSIONS:
        trt = FakeTensorRT(version)
        builder = trt.Builder(None)
        network = builder.create_network(build_module.network_flags(trt))
        config = builder.create_builder_config()
        if major(version) >= 11:
            with pytest.raises(AttributeError):
                config.set_flag(trt.BuilderFlag.FP16)
            continue
        config.set_flag(trt.BuilderFlag.FP16)
        assert builder.build_serialized_network(network, config) is None


# -- builds ------------------------------------------------------------------------------------


def test_fp32_build_is_strongly_typed_with_no_precision_flag(fake, model, tmp_path) -> None:
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"old timings")
    profiles = _profiles()
    data = build_module.build_engine(
        model, profiles, timing_cache=cache, workspace=1 << 20, optimization_level=5
    )
    assert data == b"plan bytes" and fake.errors == []
    strongly_typed = int(fake.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert fake.network is not None and fake.network.flags == 1 << strongly_typed
    assert fake.network.strongly_typed and fake.network.misuse == []
    assert fake.config is not None and fake.config.flags == []
    assert fake.config.pools == {fake.MemoryPoolType.WORKSPACE: 1 << 20}
    assert fake.config.builder_optimization_level == 5
    (profile,) = profiles
    x = profile["x"]
    assert fake.config.profiles == [{"x": (x.min, x.opt, x.max)}]
    assert fake.parsed == [("file", str(model))]
    assert fake.config.cache_in == b"old timings" and cache.read_bytes() == b"timings"


def test_fp16_build_parses_an_fp16_graph_with_fragile_nodes_in_fp32(fake, model) -> None:
    data = build_module.build_engine(model, _profiles(), fp16=True)
    assert data == b"plan bytes" and fake.errors == [] and fake.config.flags == []
    assert fake.parsed == [("bytes", str(model))]
    parsed = fake.network.model
    types = tensor_types(parsed)
    nodes = {n.name: n for n in parsed.graph.node}
    assert types[nodes["/scale/Mul"].output[0]] == HALF  # a product runs in FP16
    for kept in ("/attn/Softmax", "/dur/Exp", "/norm/LN"):
        node = nodes[kept]
        assert all(types[name] == FLOAT for name in node.input if name), kept
    assert types["two"] == HALF and types["gamma"] == types["beta"] == FLOAT
    assert [(v.name, v.type.tensor_type.elem_type) for v in parsed.graph.input] == [("x", FLOAT)]
    assert [(v.name, v.type.tensor_type.elem_type) for v in parsed.graph.output] == [("y", FLOAT)]


def test_fp16_keeps_only_the_ops_asked_for(fake, model) -> None:
    build_module.build_engine(model, _profiles(), fp16=True, keep_fp32_ops=["Softmax"])
    types = tensor_types(fake.network.model)
    exp = next(n for n in fake.network.model.graph.node if n.name == "/dur/Exp")
    assert types[exp.output[0]] == HALF


def test_network_is_checked_against_the_profiles(fake, model, tmp_path) -> None:
    wide = GraphSignature((TensorSpec("x", "float32", ("batch", "frames", 8)),), ())
    profiles = compute_profiles(wide, [bounds_from_config(ExportConfig())])
    with pytest.raises(ProfileError, match="'x' axis 2: the model fixes size 4"):
        build_module.build_engine(model, profiles)
    with pytest.raises(BackendError, match="no such ONNX model file"):
        build_module.build_engine(tmp_path / "missing.onnx", _profiles())


def test_a_build_that_fails_is_named(fake, model, monkeypatch) -> None:
    monkeypatch.setattr(FakeBuilder, "build_serialized_network", lambda self, net, config: None)
    with pytest.raises(BackendError, match=r"tiny.onnx: TensorRT failed to build an engine"):
        build_module.build_engine(model, _profiles())


def test_unreadable_model_is_named_for_fp16(fake, tmp_path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf \x00\xff")
    with pytest.raises(BackendError, match=r"bad.onnx: cannot read the ONNX model"):
        build_module.build_engine(bad, _profiles(), fp16=True)


def test_the_extra_pins_the_range_the_stand_ins_follow() -> None:
    from packaging.requirements import Requirement

    from autovoice_tensorrt.probe import MIN_VERSION

    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    extra = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["tensorrt"]
    (tensorrt,) = [Requirement(r) for r in extra if Requirement(r).name == "tensorrt"]
    assert all(tensorrt.specifier.contains(v) for v in VERSIONS)
    below = f"{MIN_VERSION[0]}.{MIN_VERSION[1] - 1}.0"
    assert not tensorrt.specifier.contains(below) and not tensorrt.specifier.contains("12.0.0")
