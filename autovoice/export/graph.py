"""Reading an ONNX graph's inputs and outputs as a :class:`GraphSignature` (onnx, no torch).

The exporter checks every graph it writes against the model's declared signature, and
``autovoice info`` describes ONNX files, with these functions.
"""

from __future__ import annotations

import os
from typing import Any

from autovoice.export.errors import ExportError
from autovoice.signature import GraphSignature, TensorSpec

#: ONNX element type -> signature dtype
ONNX_DTYPES = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 9: "bool"}


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ExportError("reading ONNX files needs the onnx package: pip install onnx") from None
    return onnx


def load_model(path: str | os.PathLike[str]) -> Any:
    """The ``onnx.ModelProto`` at ``path`` (external data not loaded)."""
    onnx = _onnx()
    try:
        return onnx.load(os.fspath(path), load_external_data=False)
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: not a readable ONNX model: {exc}") from None
    except Exception as exc:  # protobuf's DecodeError has no common base with the above
        raise ExportError(f"{path}: not an ONNX model: {exc}") from None


def _tensor(value: Any) -> TensorSpec:
    kind = value.type.tensor_type
    dtype = ONNX_DTYPES.get(kind.elem_type)
    if dtype is None:
        raise ExportError(f"tensor {value.name!r}: unsupported ONNX element type {kind.elem_type}")
    shape: list[int | str] = []
    for dim in kind.shape.dim:
        which = dim.WhichOneof("value")
        shape.append(dim.dim_value if which == "dim_value" else (dim.dim_param or "?"))
    return TensorSpec(value.name, dtype, tuple(shape))


def graph_signature(model: Any) -> GraphSignature:
    """The inputs and outputs of ``model`` (initializers excluded), in graph order."""
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    inputs = tuple(_tensor(v) for v in graph.input if v.name not in weights)
    return GraphSignature(inputs, tuple(_tensor(v) for v in graph.output))


def read_graph_signature(path: str | os.PathLike[str]) -> GraphSignature:
    """The signature of the ONNX file at ``path``."""
    try:
        return graph_signature(load_model(path))
    except ExportError as exc:
        raise ExportError(f"{path}: {exc}") from None


def opset_of(model: Any) -> int | None:
    """The version of the default (``ai.onnx``) operator set of ``model``."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None


def name_axes(model: Any, signature: GraphSignature) -> None:
    """Give the graph's inputs and outputs the signature's axis names and fixed sizes (the
    dynamo exporter invents its own names such as ``s47``)."""
    graph = model.graph
    values = {v.name: v for v in (*graph.input, *graph.output)}
    for spec in (*signature.inputs, *signature.outputs):
        value = values.get(spec.name)
        if value is None or len(value.type.tensor_type.shape.dim) != len(spec.shape):
            continue  # check_graph reports it
        for dim, size in zip(value.type.tensor_type.shape.dim, spec.shape, strict=True):
            if isinstance(size, str):
                dim.dim_param = size
            elif dim.WhichOneof("value") != "dim_value":
                dim.dim_value = size


def graph_problems(actual: GraphSignature, expected: GraphSignature) -> list[str]:
    """How ``actual`` differs from ``expected``: names, order, dtypes, ranks, axes."""
    problems = []
    for side in ("inputs", "outputs"):
        got, want = getattr(actual, side), getattr(expected, side)
        names, declared = [t.name for t in got], [t.name for t in want]
        if names != declared:
            problems.append(f"{side} are {names}, the signature declares {declared}")
            continue
        for have, need in zip(got, want, strict=True):
            if have.dtype != need.dtype:
                problems.append(f"{have.name!r} is {have.dtype}, the signature says {need.dtype}")
            if have.shape != need.shape:
                problems.append(
                    f"{have.name!r} has shape {list(have.shape)}, the signature says "
                    f"{list(need.shape)}"
                )
    return problems


def check_graph(model: Any, signature: GraphSignature, where: str) -> None:
    """Raise :class:`ExportError` naming ``where`` unless ``model`` has ``signature``."""
    problems = graph_problems(graph_signature(model), signature)
    if problems:
        raise ExportError(f"{where}: the graph does not match its signature: {'; '.join(problems)}")
