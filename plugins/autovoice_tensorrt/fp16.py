"""An FP16 copy of an ONNX graph, with the numerically fragile nodes kept in FP32 inside it.

TensorRT 10.12 deprecated weak typing and TensorRT 11 removed it (``BuilderFlag.FP16``, the
precision-constraint flags, ``ILayer.precision``, ``set_output_type``): a strongly typed network
runs each tensor in the type the graph gives it. So an FP16 engine is built from an FP16 graph,
made here with ``onnx``:

- every FP32 tensor becomes FP16 (initializers, constants, ``Cast`` to float, ``dtype``
  attributes), values beyond FP16's range clamped to its largest finite value;
- nodes matching ``keep_fp32`` (shell-style patterns of op types or node names, ignoring case)
  run in FP32: a ``Cast`` to FP32 before each of their float inputs and one to FP16 after each
  float output, unless the tensor is already of that type (an initializer feeding only FP32
  nodes stays as it is);
- the graph's inputs and outputs keep their types, so callers are unaffected;
- inputs that ONNX requires in FP32 whatever the data type (``Resize`` scales) stay FP32.

Graphs with control flow (``If``, ``Loop``, ``Scan``) are refused: their bodies read outer
tensors by name. :data:`FORMAT` names this conversion in engine cache keys; change it when the
conversion changes.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from autovoice.bundle.external import load_with_weights
from autovoice.errors import AutovoiceError, BackendError
from autovoice_tensorrt.options import DEFAULT_KEEP_FP32

FORMAT = "autovoice-fp16-1"
"""Part of an FP16 engine's cache key: bump it when the conversion changes."""

FP32_INPUTS = {"Resize": (2,), "Upsample": (1,)}
"""Inputs that ONNX types as ``tensor(float)`` whatever the data's type."""

CONTROL_FLOW = ("If", "Loop", "Scan")
FP16_MAX = float(np.finfo(np.float16).max)
FP16_TINY = float(np.finfo(np.float16).smallest_subnormal)


class Fp16Error(BackendError):
    """The graph cannot be converted to FP16; names the node or tensor and why."""


def keeps_fp32(name: str, op_type: str, patterns: Sequence[str]) -> bool:
    """True when a node called ``name`` of type ``op_type`` matches one of ``patterns``."""
    subjects = (name.lower(), op_type.lower())
    return any(fnmatch.fnmatchcase(s, p.lower()) for p in patterns for s in subjects)


def onnx_module() -> Any:
    """``onnx``, or a :class:`BackendError` saying how to install it."""
    try:
        import onnx
    except ImportError as exc:
        raise BackendError(
            f"FP16 engines are built from an FP16 copy of the ONNX graph, which needs the onnx "
            f"package (pip install 'autovoice[tensorrt]'): {exc}"
        ) from exc
    return onnx


def to_fp16(model: Any, keep_fp32: Sequence[str] = DEFAULT_KEEP_FP32) -> Any:
    """An FP16 copy of the ``onnx.ModelProto`` ``model`` (left unchanged), with the nodes that
    match ``keep_fp32`` in FP32 and the graph's inputs and outputs as they were."""
    onnx = onnx_module()
    typed = onnx.shape_inference.infer_shapes(model)
    types = _tensor_types(typed.graph)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    _Converter(onnx, out.graph, types, tuple(keep_fp32)).run()
    return out


def _tensor_types(graph: Any) -> dict[str, int]:
    values = (*graph.input, *graph.output, *graph.value_info)
    types = {
        v.name: int(v.type.tensor_type.elem_type) for v in values if v.type.HasField("tensor_type")
    }
    types.update({t.name: int(t.data_type) for t in graph.initializer})
    return types


class _Converter:
    """Rewrites one graph in place (see the module docstring)."""

    def __init__(self, onnx: Any, graph: Any, types: dict[str, int], keep: tuple[str, ...]):
        self.onnx, self.graph, self.types, self.keep = onnx, graph, types, keep
        self.FLOAT: int = int(onnx.TensorProto.FLOAT)
        self.HALF: int = int(onnx.TensorProto.FLOAT16)
        self.home: dict[str, int] = {}  # float tensor -> the type it has in the new graph
        self.copies: dict[tuple[str, int], str] = {}  # (tensor, wanted type) -> its name
        self.nodes: list[Any] = []

    def run(self) -> None:
        nodes = list(self.graph.node)
        for node in nodes:
            if node.op_type in CONTROL_FLOW:
                raise Fp16Error(
                    f"node {node.name or node.op_type!r}: FP16 conversion does not handle "
                    f"control flow ({node.op_type}); build this graph in FP32"
                )
        consumers = _consumers(nodes)
        for value in self.graph.input:
            if self._is_float(value.name):
                self.home[value.name] = self.FLOAT
        for tensor in list(self.graph.initializer):
            if self._is_float(tensor.name):
                self._initializer_home(tensor, consumers.get(tensor.name, []))
        for node in nodes:
            self._convert(node)
        outputs = [o.name for o in self.graph.output if self._is_float(o.name)]
        self._restore_outputs(outputs)
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)
        del self.graph.value_info[:]

    def _is_float(self, name: str) -> bool:
        if name and name not in self.types:
            raise Fp16Error(f"tensor {name!r}: its type cannot be inferred from the graph")
        return bool(name) and self.types[name] == self.FLOAT

    def _fp32_node(self, node: Any) -> bool:
        return keeps_fp32(node.name, node.op_type, self.keep)

    def _initializer_home(self, tensor: Any, users: list[tuple[Any, int]]) -> None:
        """Converted in place when every consumer wants FP16; kept when none does; else kept,
        with an FP16 copy beside it for the FP16 consumers."""
        wanted = {self._wanted(node, i) for node, i in users} or {self.HALF}
        if wanted == {self.HALF}:
            self.home[tensor.name] = self.HALF
            tensor.CopyFrom(self._half_tensor(tensor, tensor.name))
            return
        self.home[tensor.name] = self.FLOAT
        if self.HALF in wanted:
            copy = f"{tensor.name}__fp16"
            self.graph.initializer.append(self._half_tensor(tensor, copy))
            self.copies[(tensor.name, self.HALF)] = copy

    def _wanted(self, node: Any, index: int) -> int:
        if self._fp32_node(node) or index in FP32_INPUTS.get(node.op_type, ()):
            return self.FLOAT
        return self.HALF

    def _convert(self, node: Any) -> None:
        for index, name in enumerate(node.input):
            if self._is_float(name):
                node.input[index] = self._as(name, self._wanted(node, index))
        kept = self._fp32_node(node)
        if not kept:
            self._retype_attributes(node)
        self.nodes.append(node)
        for name in node.output:
            if self._is_float(name):
                self.home[name] = self.FLOAT if kept else self.HALF

    def _as(self, name: str, wanted: int) -> str:
        """The name of ``name`` as type ``wanted``: itself, or a copy made once (a ``Cast``
        placed before its first reader, so the graph stays topologically sorted)."""
        if self.home[name] == wanted:
            return name
        key = (name, wanted)
        if key not in self.copies:
            copy = f"{name}__{'fp32' if wanted == self.FLOAT else 'fp16'}"
            self.copies[key] = copy
            self.nodes.append(self.onnx.helper.make_node("Cast", [name], [copy], to=wanted))
        return self.copies[key]

    def _retype_attributes(self, node: Any) -> None:
        helper = self.onnx.helper
        for attr in node.attribute:
            names_type = attr.name == "dtype" or (node.op_type == "Cast" and attr.name == "to")
            if names_type and attr.i == self.FLOAT:
                attr.i = self.HALF
            elif attr.type == self.onnx.AttributeProto.TENSOR and attr.t.data_type == self.FLOAT:
                attr.t.CopyFrom(self._half_tensor(attr.t, attr.t.name))
        if node.op_type == "Constant":
            self._constant_floats(node, helper)
        defaults_fp32 = node.op_type == "ConstantOfShape" and not node.attribute
        if defaults_fp32 and self.types.get(node.output[0]) == self.FLOAT:  # an FP32 zero
            zero = self._array_tensor(np.zeros(1), "")
            node.attribute.append(helper.make_attribute("value", zero))

    def _constant_floats(self, node: Any, helper: Any) -> None:
        for attr in list(node.attribute):
            if attr.name in ("value_float", "value_floats"):
                values = [attr.f] if attr.name == "value_float" else list(attr.floats)
                shape: tuple[int, ...] = () if attr.name == "value_float" else (len(values),)
                tensor = self._array_tensor(np.asarray(values).reshape(shape), "")
                node.attribute.remove(attr)
                node.attribute.append(helper.make_attribute("value", tensor))

    def _half_tensor(self, tensor: Any, name: str) -> Any:
        array = self.onnx.numpy_helper.to_array(tensor)
        return self._array_tensor(array, name)

    def _array_tensor(self, array: np.ndarray, name: str) -> Any:
        values = fp16_values(array)
        return self.onnx.numpy_helper.from_array(values.astype(np.float16), name)

    def _restore_outputs(self, outputs: Iterable[str]) -> None:
        """Graph outputs keep their FP32 type: an FP16 producer writes a renamed tensor and a
        ``Cast`` writes the output's own name."""
        for name in outputs:
            if self.home.get(name) != self.HALF:
                continue
            inner = f"{name}__fp16"
            for node in self.nodes:
                node.output[:] = [inner if o == name else o for o in node.output]
                node.input[:] = [inner if i == name else i for i in node.input]
            self.home[inner] = self.HALF
            self.nodes.append(self.onnx.helper.make_node("Cast", [inner], [name], to=self.FLOAT))


def fp16_values(array: Any) -> np.ndarray:
    """``array`` as FP16 without new infinities or zeros: finite values beyond FP16's range
    become its largest finite value, and non-zero values too small for it its smallest one (a
    divisor of 1e-12 must not become 0), each keeping its sign; infinities and NaN stay."""
    values = np.asarray(array, dtype=np.float64)
    magnitude = np.abs(values)
    clamped = np.clip(magnitude, FP16_TINY, FP16_MAX) * np.sign(values)
    keep = (magnitude == 0) | ~np.isfinite(values)
    return np.where(keep, values, clamped).astype(np.float16)


def _consumers(nodes: Sequence[Any]) -> dict[str, list[tuple[Any, int]]]:
    out: dict[str, list[tuple[Any, int]]] = {}
    for node in nodes:
        for index, name in enumerate(node.input):
            out.setdefault(name, []).append((node, index))
    return out


def fp16_bytes(path: str, keep_fp32: Sequence[str]) -> bytes:
    """The serialized FP16 copy of the ONNX file at ``path`` (weights loaded into it)."""
    onnx_module()
    try:
        model = load_with_weights(path)
    except AutovoiceError as exc:  # the file or its external weights, not the conversion
        raise Fp16Error(f"{path}: cannot read the ONNX model: {exc}") from exc
    try:
        converted = to_fp16(model, keep_fp32)
    except Fp16Error as exc:
        raise Fp16Error(f"{path}: {exc}") from exc
    data: bytes = converted.SerializeToString()
    return data


__all__ = [
    "DEFAULT_KEEP_FP32",
    "FORMAT",
    "Fp16Error",
    "fp16_bytes",
    "fp16_values",
    "keeps_fp32",
    "onnx_module",
    "to_fp16",
]
