"""Engines shipped in a voice bundle serve the stage: the engine artifact first, else the one of
the voice's engines built for this TensorRT and GPU, and no build at all (the builder is made
to fail). Against stand-ins for TensorRT and CUDA; the stage is opened as the inference engine
opens it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import attrs
import numpy as np
import pytest

import autovoice_tensorrt.backend as backend_module
from autovoice.bundle import EngineInfo
from autovoice.errors import BackendError
from autovoice.hookspecs import hookimpl
from autovoice.inference.stages import StageContext, open_stage
from autovoice.plugins import Registry
from autovoice.signature import GraphSignature, TensorSpec
from autovoice_tensorrt import SPEC, TensorRTOptions
from autovoice_tensorrt.cache import EngineKey, GpuIdentity, make_sidecar
from autovoice_tensorrt.device import Cuda
from autovoice_tensorrt.profiles import Profile, ShapeRange

from _fake_tensorrt import (  # isort: skip
    PROFILES,
    VERSIONS,
    FakeEngine,
    FakeRuntime,
    FakeTensorRT,
    tiny_onnx,
)

SIGNATURE = GraphSignature(
    (TensorSpec("x", "float32", ("batch", "frames")), TensorSpec("n", "int64", ("batch",))),
    (TensorSpec("y", "float32", ("batch", "frames")), TensorSpec("k", "int64", ("hits",))),
)
HERE = GpuIdentity(name="Fake GPU", compute_capability=(8, 9))
ELSEWHERE = GpuIdentity(name="Other GPU", compute_capability=(9, 0))


class _Plugin:
    """The tensorrt backend, its requirements met by the stand-ins."""

    @hookimpl
    def autovoice_backends(self):
        return [attrs.evolve(SPEC, requires=(), probe=None)]


@pytest.fixture
def fake(monkeypatch) -> FakeTensorRT:
    trt, rt = FakeTensorRT(VERSIONS[-1]), FakeRuntime()
    monkeypatch.setattr(backend_module, "tensorrt_module", lambda: trt)
    monkeypatch.setattr(backend_module, "trt_logger", lambda: None)
    monkeypatch.setattr(backend_module, "Cuda", lambda: Cuda(rt))
    trt.rt = rt  # type: ignore[attr-defined]

    def no_build(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("an engine was built although the voice ships one")

    monkeypatch.setattr(backend_module, "build_engine", no_build)
    return trt


def _ship(voice: Path, trt: FakeTensorRT, gpu: GpuIdentity, data: bytes) -> EngineInfo:
    """An engine in ``voice/engines`` as export writes it (plan and sidecar), its bundle entry,
    and the engine TensorRT gives for its bytes."""
    profiles = tuple(
        Profile((("x", ShapeRange(*p)), ("n", ShapeRange(*(s[:1] for s in p))))) for p in PROFILES
    )
    key = EngineKey(
        onnx_sha256="a" * 64,
        tensorrt=trt.__version__,
        gpu=gpu,
        profiles=profiles,
        precision="fp16",
    )
    plan = voice / "engines" / f"{key.digest}.plan"
    plan.parent.mkdir(parents=True, exist_ok=True)
    plan.write_bytes(data)
    sidecar = make_sidecar(
        key,
        plan_sha256=hashlib.sha256(data).hexdigest(),
        plan_size=len(data),
        plan_file=plan.name,
        stage="acoustic",
    )
    plan.with_suffix(".json").write_text(json.dumps(sidecar))
    trt.engines[data] = FakeEngine(trt.rt)  # type: ignore[attr-defined]
    return EngineInfo(
        stage="acoustic",
        file=plan,
        key=key.digest,
        precision="fp16",
        profiles=tuple(p.to_dict() for p in profiles),
        tensorrt=trt.__version__,
        gpu=gpu.name,
    )


def _open(voice: Path, engines: tuple[EngineInfo, ...], options=None):
    context = StageContext(
        name="acoustic", plugin="voice_transformer", signature=SIGNATURE, engines=engines
    )
    artifacts = {"onnx": tiny_onnx(voice / "acoustic.onnx"), "engine": engines[0].file}
    registry = Registry.discover(entry_points=False, plugins=[_Plugin()])
    return open_stage(
        context,
        artifacts,
        registry=registry,
        backend="tensorrt",
        device="cuda",
        options_for=lambda spec: options or TensorRTOptions(engine_cache_dir=str(voice / "c")),
    )


def _check_runs(runner) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = runner.run({"x": x, "n": np.array([0, 2], np.int64)})
    np.testing.assert_array_equal(out["y"], x * 2 + 1)
    assert runner.session.get_engine_info()["precision"] == "fp16"


def test_a_shipped_engine_is_served_as_the_engine_artifact(tmp_path, fake) -> None:
    shipped = _ship(tmp_path, fake, HERE, b"engine for this GPU")
    runner = _open(tmp_path, (shipped,))
    assert runner.artifact == "engine" and runner.session.path == str(shipped.file)
    _check_runs(runner)


def test_the_engine_for_this_gpu_is_found_among_the_voices_engines(tmp_path, fake) -> None:
    other = _ship(tmp_path, fake, ELSEWHERE, b"engine for another GPU")
    here = _ship(tmp_path, fake, HERE, b"engine for this GPU")
    runner = _open(tmp_path, (other, here))  # the engine artifact is the other GPU's
    assert runner.artifact == "onnx" and runner.session.path == str(here.file)
    _check_runs(runner)
    assert not (tmp_path / "c").exists()  # nothing built, nothing cached


def test_a_shipped_engine_in_another_precision_than_asked_is_not_used(tmp_path, fake) -> None:
    shipped = _ship(tmp_path, fake, HERE, b"engine for this GPU")
    options = TensorRTOptions(fp16=False, build=False, engine_cache_dir=str(tmp_path / "c"))
    with pytest.raises(BackendError) as caught:
        _open(tmp_path, (shipped,), options)
    message = str(caught.value)
    assert "it is an fp16 engine and the options ask for fp32" in message
    assert "building on load is off (option build = false)" in message


def test_a_changed_shipped_engine_is_not_used(tmp_path, fake) -> None:
    shipped = _ship(tmp_path, fake, HERE, b"engine for this GPU")
    shipped.file.write_bytes(b"tampered")
    options = TensorRTOptions(build=False, engine_cache_dir=str(tmp_path / "c"))
    changed = pytest.warns(RuntimeWarning, match="does not match its description")
    with changed, pytest.raises(BackendError, match="building on load is off"):
        _open(tmp_path, (shipped,), options)


def test_an_engine_built_for_a_new_gpu_has_the_shipped_precision_and_profiles(
    tmp_path, fake, monkeypatch
) -> None:
    other = _ship(tmp_path, fake, ELSEWHERE, b"engine for another GPU")
    built: dict = {}

    def build(onnx, profiles, *, fp16=False, **kwargs):
        built.update(profiles=tuple(profiles), fp16=fp16)
        fake.engines[b"built here"] = FakeEngine(fake.rt)  # type: ignore[attr-defined]
        return b"built here"

    monkeypatch.setattr(backend_module, "build_engine", build)
    runner = _open(tmp_path, (other,))
    assert runner.artifact == "onnx" and built["fp16"] is True
    assert [p.to_dict() for p in built["profiles"]] == list(other.profiles)
    assert runner.session.get_engine_info()["precision"] == "fp16"
    _check_runs(runner)
