"""The FP16 copy of an ONNX graph that FP16 engines are built from: valid ONNX, FP16 where it
may be, FP32 where it must be, the same inputs and outputs, and close to the FP32 graph when
run (on ONNX Runtime's CPU provider), the shipped voice's graphs included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from autovoice.bundle.external import load_with_weights  # noqa: E402
from autovoice_tensorrt.fp16 import Fp16Error, fp16_values, to_fp16  # noqa: E402

from _fake_tensorrt import tensor_types  # noqa: E402  # isort: skip

FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16
VOICE = Path(__file__).resolve().parent.parent / "autovoice" / "voices" / "default"


def _model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _value(name, elem=FLOAT, shape=("n",)):
    return helper.make_tensor_value_info(name, elem, list(shape))


def _run(model, feed):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feed)


def _converted(model, keep=("Softmax", "Exp")):
    half = to_fp16(model, keep)
    onnx.checker.check_model(half, full_check=True)
    return half


def test_values_keep_their_sign_and_never_become_zero_or_infinite() -> None:
    values = fp16_values(np.array([1e-12, -1e-12, 0.0, 1e6, -1e6, np.inf, 0.5]))
    assert values.dtype == np.float16
    assert values[0] > 0 and values[1] < 0 and values[2] == 0
    assert values[3] == 65504 and values[4] == -65504 and np.isinf(values[5])
    assert values[6] == 0.5


def test_a_tiny_divisor_stays_non_zero() -> None:
    """0 / 1e-12 is 0; with 1e-12 rounded to FP16's zero it would be NaN."""
    model = _model(
        [helper.make_node("Div", ["x", "c"], ["y"])],
        [_value("x")],
        [_value("y")],
        [helper.make_tensor("c", FLOAT, [1], [1e-12])],
    )
    x = np.array([0.0, 0.0], np.float32)
    (y,) = _run(_converted(model), {"x": x})
    assert np.isfinite(y).all() and (y == 0).all()


def test_kept_nodes_run_in_fp32_the_rest_in_fp16_and_io_keeps_its_types() -> None:
    model = _model(
        [
            helper.make_node("Mul", ["x", "w"], ["scaled"], name="/scale/Mul"),
            helper.make_node("Softmax", ["scaled"], ["soft"], axis=0, name="/attn/Softmax"),
            helper.make_node("Add", ["soft", "w"], ["y"], name="/out/Add"),
            helper.make_node("Exp", ["w"], ["z"], name="/w/Exp"),
        ],
        [_value("x", shape=(3,))],
        [_value("y", shape=(3,)), _value("z", shape=(3,))],
        [helper.make_tensor("w", FLOAT, [3], [0.5, -1.0, 2.0])],
    )
    half = _converted(model)
    types = tensor_types(half)
    nodes = {n.name: n for n in half.graph.node}
    assert types[nodes["/scale/Mul"].output[0]] == HALF
    assert types[nodes["/attn/Softmax"].input[0]] == FLOAT
    assert types[nodes["/attn/Softmax"].output[0]] == FLOAT
    assert types[nodes["/w/Exp"].input[0]] == FLOAT  # the FP32 weight itself
    assert types[nodes["/out/Add"].input[1]] == HALF  # its FP16 copy
    initializers = {t.name: t.data_type for t in half.graph.initializer}
    assert initializers == {"w": FLOAT, "w__fp16": HALF}
    assert [o.name for o in half.graph.output] == ["y", "z"]
    assert all(
        v.type.tensor_type.elem_type == FLOAT for v in (*half.graph.input, *half.graph.output)
    )
    x = np.array([0.1, 0.2, 0.3], np.float32)
    want, got = _run(model, {"x": x}), _run(half, {"x": x})
    for a, b in zip(want, got, strict=True):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=2e-3, atol=2e-3)


def test_casts_constants_and_dtypes_become_fp16() -> None:
    model = _model(
        [
            helper.make_node("Cast", ["n"], ["nf"], to=FLOAT),
            helper.make_node("Constant", [], ["k"], value_float=3.0),
            helper.make_node("Shape", ["n"], ["shape"]),
            helper.make_node("ConstantOfShape", ["shape"], ["zeros"]),
            helper.make_node("Mul", ["nf", "k"], ["m"]),
            helper.make_node("Add", ["m", "zeros"], ["y"]),
        ],
        [_value("n", TensorProto.INT64)],
        [_value("y")],
    )
    half = _converted(model, keep=())
    types = tensor_types(half)
    assert types["nf"] == types["k"] == types["zeros"] == types["m"] == HALF
    n = np.array([1, 2, 3], np.int64)
    (y,) = _run(half, {"n": n})
    np.testing.assert_array_equal(y, [3.0, 6.0, 9.0])
    assert to_fp16(model, ()) is not model and model.graph.node[0].attribute[0].i == FLOAT


def test_resize_scales_stay_fp32() -> None:
    model = _model(
        [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")],
        [_value("x", shape=(1, 1, 2, 2))],
        [_value("y", shape=(1, 1, 4, 4))],
        [helper.make_tensor("scales", FLOAT, [4], [1.0, 1.0, 2.0, 2.0])],
    )
    half = _converted(model, keep=())
    assert {t.name: t.data_type for t in half.graph.initializer} == {"scales": FLOAT}
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(_run(half, {"x": x})[0], _run(model, {"x": x})[0])


def test_control_flow_is_refused_by_name() -> None:
    branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["out"])], "b", [], [_value("out")]
    )
    model = _model(
        [
            helper.make_node(
                "If", ["c"], ["y"], name="/gate/If", then_branch=branch, else_branch=branch
            )
        ],
        [_value("c", TensorProto.BOOL, ()), _value("x")],
        [_value("y")],
    )
    with pytest.raises(Fp16Error, match=r"'/gate/If': FP16 conversion does not handle control"):
        to_fp16(model)


# -- the shipped voice's graphs --------------------------------------------------------------


def test_the_shipped_vocoder_in_fp16_is_close_to_fp32() -> None:
    model = load_with_weights(VOICE / "vocoder.onnx")
    half = _converted(model, keep=list(_default_keep()))
    n_mels = json.loads((VOICE / "manifest.json").read_text())["audio"]["n_mels"]
    mel = (np.random.default_rng(0).normal(size=(1, n_mels, 40)) - 5).astype(np.float32)
    wanted, found = _run(model, {"mel": mel}), _run(half, {"mel": mel})
    assert len(wanted) == len(found) == len(model.graph.output)
    for want, got in zip(wanted, found, strict=True):
        # the istft vocoder's spectrum parts: 3.8e-2 and 1.0e-2 of their peak measured here
        # (docs/tensorrt.md); an overflow or a lost normalization is far beyond
        assert np.isfinite(got).all()
        assert np.abs(got - want).max() <= 6e-2 * np.abs(want).max()


def test_the_shipped_acoustic_model_in_fp16_keeps_lengths_and_mel_close() -> None:
    model = load_with_weights(VOICE / "acoustic.onnx")
    half = _converted(model, keep=list(_default_keep()))
    rng = np.random.default_rng(0)
    feed = {
        "tokens": rng.integers(1, 40, size=(1, 24)).astype(np.int64),
        "token_lengths": np.array([24], np.int64),
        "speakers": np.array([0], np.int64),
    }
    names = [i.name for i in model.graph.input]
    feed.update({n: np.array([1.0 if n != "pitch_shift" else 0.0], np.float32) for n in names[3:]})
    want, got = _run(model, feed), _run(half, feed)
    np.testing.assert_array_equal(got[1], want[1])  # mel lengths
    # each token's end is its predicted duration summed and rounded to a whole frame: FP16's
    # small changes to the predictions may move an end that lay near .5 by one frame, no more
    ends_got, ends_want = np.cumsum(got[2], axis=1), np.cumsum(want[2], axis=1)
    assert np.abs(ends_got - ends_want).max() <= 1
    # the log-mel: measured on the shipped voice (four decoder blocks), median 0.009 and 99th
    # percentile 0.26, largest 0.64 where frames moved; a lost normalization or overflow is far
    # beyond these
    drift = np.abs(got[0] - want[0])
    assert np.median(drift) < 0.05 and np.percentile(drift, 99) < 0.5 and drift.max() < 1.5


def _default_keep():
    from autovoice_tensorrt.options import DEFAULT_KEEP_FP32

    return DEFAULT_KEEP_FP32
