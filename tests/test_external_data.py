"""Graphs that keep weights in another file: the exporter's sharing with the safetensors file,
and the checks that keep an untrusted graph from reading any file but its own weights."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from autovoice.bundle import BundleError
from autovoice.bundle.external import check_external_data, external_refs
from autovoice.export.shared_weights import safetensors_layout, share_weights

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

WEIGHT = np.arange(3 * 256, dtype=np.float32).reshape(3, 256) / 7
OTHER = np.full((256,), 0.5, dtype=np.float32)


def _graph(path: Path) -> Path:
    """``y = x @ w + b`` with both weights inside the graph."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 256])],
        initializer=[numpy_helper.from_array(WEIGHT, "w"), numpy_helper.from_array(OTHER, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _shared(tmp_path: Path, weights: dict[str, np.ndarray] | None = None) -> Path:
    """The tiny graph in ``tmp_path/stage.onnx`` sharing what it can with ``stage.safetensors``."""
    graph = _graph(tmp_path / "stage.onnx")
    safetensors_numpy.save_file(
        weights if weights is not None else {"b": OTHER, "w": WEIGHT},
        str(tmp_path / "stage.safetensors"),
    )
    share_weights(graph, tmp_path / "stage.safetensors")
    return graph


def _run(path: Path) -> np.ndarray:
    from autovoice_onnxruntime.backend import OnnxRuntimeBackend

    x = np.ones((2, 3), dtype=np.float32)
    session = OnnxRuntimeBackend().load(path)
    return np.asarray(session.run({"x": x})["y"])


def _relocate(graph: Path, location: str, *, offset: int | None = None) -> None:
    model = onnx.load(str(graph), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
            if entry.key == "offset" and offset is not None:
                entry.value = str(offset)
    onnx.save(model, str(graph))


def test_equal_weights_are_read_from_the_safetensors_file_and_give_the_same_output(
    tmp_path: Path,
) -> None:
    inline = _run(_graph(tmp_path / "inline.onnx"))
    graph = _shared(tmp_path)
    refs = {ref.tensor: ref for ref in external_refs(graph)}
    assert set(refs) == {"w", "b"}
    start, header = safetensors_layout(tmp_path / "stage.safetensors")
    raw = (tmp_path / "stage.safetensors").read_bytes()
    for name, array in (("w", WEIGHT), ("b", OTHER)):
        ref = refs[name]
        assert ref.location == "stage.safetensors" and ref.length == array.nbytes
        assert ref.offset == start + header[name]["data_offsets"][0]
        assert raw[ref.offset : ref.offset + array.nbytes] == array.tobytes()
    assert graph.stat().st_size < (tmp_path / "inline.onnx").stat().st_size - WEIGHT.nbytes
    np.testing.assert_array_equal(_run(graph), inline)


def test_a_tensor_that_differs_from_the_weights_stays_inside_the_graph(tmp_path: Path) -> None:
    graph = _shared(tmp_path, {"w": WEIGHT.T.copy(), "b": OTHER + 1, "unused": OTHER})
    assert external_refs(graph) == []
    graph = _shared(tmp_path, {"w": WEIGHT, "b": OTHER + 1})
    assert [ref.tensor for ref in external_refs(graph)] == ["w"]
    np.testing.assert_allclose(_run(graph), np.ones((2, 3), np.float32) @ WEIGHT + OTHER)


@pytest.mark.parametrize(
    ("location", "said"),
    [
        ("../stage.safetensors", "only a file beside the graph"),
        ("/etc/passwd", "only a file beside the graph"),
        ("sub/stage.safetensors", "only a file beside the graph"),
        ("..\\stage.safetensors", "only a file beside the graph"),
        ("missing.safetensors", "is not a regular file"),
    ],
)
def test_a_graph_reading_another_file_is_refused_before_onnxruntime_reads_it(
    tmp_path: Path, location: str, said: str
) -> None:
    from autovoice_onnxruntime.errors import BackendError

    graph = _shared(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "stage.safetensors").write_bytes(b"x" * 4096)
    _relocate(graph, location)
    with pytest.raises(BundleError, match=said) as caught:
        check_external_data(graph)
    assert str(graph) in str(caught.value) and "tensor 'w'" in str(caught.value)
    with pytest.raises(BackendError, match=said):
        _run(graph)


def test_a_link_out_of_the_folder_and_bytes_beyond_the_end_are_refused(tmp_path: Path) -> None:
    graph = _shared(tmp_path)
    size = (tmp_path / "stage.safetensors").stat().st_size
    _relocate(graph, "stage.safetensors", offset=size - 8)
    with pytest.raises(BundleError, match=r"lie outside stage\.safetensors"):
        check_external_data(graph)
    _relocate(graph, "link.safetensors", offset=0)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.safetensors"
    outside.write_bytes((tmp_path / "stage.safetensors").read_bytes())
    (tmp_path / "link.safetensors").symlink_to(outside)
    with pytest.raises(BundleError, match="links out of its folder"):
        check_external_data(graph)
    (tmp_path / "kept").mkdir()
    (tmp_path / "stage.safetensors").rename(tmp_path / "kept" / "stage.safetensors")
    (tmp_path / "link.safetensors").unlink()
    (tmp_path / "link.safetensors").symlink_to(Path("kept") / "stage.safetensors")
    assert len(check_external_data(graph)) == 2  # a link that stays in the folder is followed


def test_allowed_names_the_only_files_a_graph_may_read(tmp_path: Path) -> None:
    graph = _shared(tmp_path)
    assert len(check_external_data(graph, allowed=("stage.safetensors",))) == 2
    with pytest.raises(BundleError, match=r"may only read other\.safetensors"):
        check_external_data(graph, allowed=("other.safetensors",))


def test_references_are_read_and_checked_without_the_onnx_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline = _graph(tmp_path / "inline.onnx")
    graph = _shared(tmp_path)
    with_onnx = external_refs(graph)
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert check_external_data(inline) == []
    assert external_refs(graph) == with_onnx and len(with_onnx) == 2
    _relocate_bytes(graph, b"stage.safetensors", b"../ge.safetensors")
    with pytest.raises(BundleError, match="only a file beside the graph"):
        check_external_data(graph)


def _relocate_bytes(graph: Path, old: bytes, new: bytes) -> None:
    """The location rewritten in the graph's bytes (same length, so the encoding holds)."""
    assert len(old) == len(new)
    graph.write_bytes(graph.read_bytes().replace(old, new))


def test_a_file_that_is_not_onnx_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff\xfe location " * 10)
    with pytest.raises(BundleError, match=r"bad\.onnx: not an ONNX model"):
        external_refs(bad)


def test_a_constant_inside_a_subgraph_is_checked_too(tmp_path: Path) -> None:
    """References hide in node attributes and subgraphs as well as in initializers."""
    from onnx import TensorProto, helper, numpy_helper

    value = numpy_helper.from_array(OTHER, "c")
    value.ClearField("raw_data")
    value.data_location = TensorProto.EXTERNAL
    for key, text in (("location", "../elsewhere.bin"), ("offset", "0"), ("length", "1024")):
        entry = value.external_data.add()
        entry.key, entry.value = key, text
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [256])]
    branch = helper.make_graph([helper.make_node("Constant", [], ["y"], value=value)], "b", [], out)
    condition = [helper.make_tensor_value_info("go", TensorProto.BOOL, [])]
    node = helper.make_node("If", ["go"], ["y"], then_branch=branch, else_branch=branch)
    model = helper.make_model(helper.make_graph([node], "g", condition, out))
    graph = tmp_path / "nested.onnx"
    onnx.save(model, str(graph))
    refs = external_refs(graph)
    assert [(ref.tensor, ref.location) for ref in refs] == [("c", "../elsewhere.bin")] * 2
    with pytest.raises(BundleError, match="only a file beside the graph"):
        check_external_data(graph)
