"""How the core reaches what plugins provide: stage inputs checked once against the declared
signature, engines built through a backend spec's engine builder, the design document's model
classes made from the classes model specs name."""

from __future__ import annotations

import numpy as np
import pytest

from autovoice.errors import BackendError, PluginError
from autovoice.inference.stages import StageContext, StageRunner
from autovoice.plugins import Registry
from autovoice.signature import acoustic_signature, check_inputs, vocoder_signature
from autovoice.specs import BackendSpec


class _Recording:
    """A session that describes nothing and records what it was fed."""

    def __init__(self) -> None:
        self.fed: list[dict[str, np.ndarray]] = []

    def run(self, inputs):
        self.fed.append(dict(inputs))
        return {"audio": np.zeros((1, 4), np.float32)}


def _runner() -> tuple[StageRunner, _Recording]:
    context = StageContext(name="vocoder", plugin="v", signature=vocoder_signature(4))
    session = _Recording()
    return StageRunner(context, session, backend="b", artifact="onnx", device="cpu"), session


def test_the_stage_runner_checks_inputs_against_the_signature_before_the_backend() -> None:
    runner, session = _runner()
    mel = np.zeros((1, 4, 3), np.float32)
    runner.run({"mel": mel[:, :, ::2]})  # a view: fed as a contiguous copy
    assert session.fed[0]["mel"].flags.c_contiguous
    cases = [
        ({"mel": mel.astype(np.float64)}, r"input 'mel' is float64 \[1, 4, 3\]; the signature"),
        ({"mel": mel[0]}, r"input 'mel' has 2 dimensions \[4, 3\]; the signature expects 3"),
        ({"mel": np.zeros((1, 5, 3), np.float32)}, "input 'mel' has size 5 on axis 1"),
        ({}, r"missing input 'mel'; the signature expects mel \(float32 \[batch, 4, frames\]\)"),
        ({"mel": mel, "pace": np.ones(1)}, "unexpected input 'pace'"),
        ({"mel": mel.tolist()}, "input 'mel' must be a numpy array, got list"),
    ]
    for feed, says in cases:
        with pytest.raises(BackendError, match=rf"^vocoder stage: {says}"):
            runner.run(feed)
    assert len(session.fed) == 1


def test_check_inputs_takes_any_described_tensors_and_their_error() -> None:
    class Tensor:
        def __init__(self, name, dtype, shape):
            self.name, self.dtype, self.shape = name, dtype, shape

    class Refused(BackendError):
        pass

    expected = [Tensor("x", "float32", None), Tensor("s", "object", (None,))]
    fed = check_inputs(expected, {"x": np.float32(1), "s": np.array(["a"])}, "m.onnx")
    assert list(fed) == ["x", "s"] and fed["x"].shape == ()
    with pytest.raises(Refused, match=r"m.onnx: missing input 'x', 's'; the model expects x"):
        check_inputs(expected, {}, "m.onnx", error=Refused)
    with pytest.raises(Refused, match="inputs must map names to numpy arrays, got list"):
        check_inputs(expected, [1], "m.onnx", error=Refused)
    assert acoustic_signature(4).check_inputs(
        {
            "tokens": np.zeros((2, 3), np.int64),
            "token_lengths": np.full(2, 3, np.int64),
            "speakers": np.zeros(2, np.int64),
            "pace": np.ones(2, np.float32),
            "pitch_shift": np.zeros(2, np.float32),
            "energy_scale": np.ones(2, np.float32),
        },
        "acoustic stage",
    ).keys() == set(acoustic_signature(4).input_names)


def test_engines_are_built_through_the_backend_specs_engine_builder() -> None:
    registry = Registry.discover()
    spec = registry.get("backend", "tensorrt")
    assert isinstance(spec, BackendSpec) and spec.engine_builder is not None
    builder = spec.builder()
    assert callable(builder.build_voice) and callable(builder.build_graph)
    plain = BackendSpec(name="plain", factory="x:y", accepts=("onnx",))
    with pytest.raises(PluginError, match="backend 'plain' builds no engines ahead of time"):
        plain.builder()
    broken = BackendSpec(name="b", factory="x:y", accepts=("onnx",), engine_builder="nowhere:B")
    with pytest.raises(PluginError, match="cannot import its engine builder nowhere:B"):
        broken.builder()


def test_the_documents_model_classes_are_the_classes_the_specs_name() -> None:
    pytest.importorskip("torch")
    from autovoice.models import hifigan, transformer
    from autovoice.specs import import_object

    registry = Registry.discover()
    for module, kind, name, attribute in (
        (transformer, "model", "voice_transformer", "VoiceTransformer"),
        (hifigan, "vocoder", "hifigan", "HiFiGAN"),
    ):
        made = getattr(module, attribute)
        network = import_object(registry.get(kind, name).module_class)
        assert issubclass(made, network) and made.__module__ == module.__name__
        assert getattr(module, attribute) is made  # made once
        assert made.__qualname__ == attribute
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        transformer.Nothing  # noqa: B018
