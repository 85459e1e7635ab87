"""A loaded ONNX model: what it takes and gives, and running it with numpy in and numpy out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from autovoice_onnxruntime.errors import BackendError, InputError

#: onnxruntime's type names -> numpy dtype names
DTYPES: Mapping[str, str] = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(bfloat16)": "bfloat16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


@attrs.frozen
class TensorInfo:
    """One input or output of a model.

    ``dtype`` is a numpy dtype name (``"float32"``; ``"bfloat16"`` has none, other non-tensor
    types keep onnxruntime's name). ``shape`` holds an int for a fixed dimension, a name
    (``"batch"``) or None for a dynamic one. It is None when the rank is unknown: onnxruntime
    reports an undeclared shape and a scalar alike, so neither is checked before running.
    """

    name: str
    dtype: str
    shape: tuple[int | str | None, ...] | None

    def __str__(self) -> str:
        if self.shape is None:
            return f"{self.name} ({self.dtype})"
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} ({self.dtype} [{dims}])"


def describe(arg: Any) -> TensorInfo:
    """A :class:`TensorInfo` from an onnxruntime ``NodeArg``."""
    raw = arg.shape
    shape = None
    if isinstance(raw, (list, tuple)) and raw:  # [] is a scalar or an undeclared shape: unknown
        shape = tuple(
            d if isinstance(d, (int, str)) and not isinstance(d, bool) else None for d in raw
        )
    return TensorInfo(name=arg.name, dtype=DTYPES.get(arg.type, arg.type), shape=shape)


class OnnxRuntimeSession:
    """A model loaded on a device. Built by :meth:`OnnxRuntimeBackend.load`.

    ``providers`` are the execution providers onnxruntime actually uses, best first;
    ``fallback`` says in words why they differ from what was asked, or is None.
    """

    def __init__(
        self,
        session: Any,
        *,
        path: str,
        device: str,
        requested: Sequence[str],
        fallback: str | None = None,
    ) -> None:
        self._session = session
        self.path = path
        self.device = device
        self.requested_providers = tuple(requested)
        self.providers: tuple[str, ...] = tuple(session.get_providers())
        self.fallback = fallback
        self._inputs = tuple(describe(arg) for arg in session.get_inputs())
        self._outputs = tuple(describe(arg) for arg in session.get_outputs())

    @property
    def inputs(self) -> tuple[TensorInfo, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorInfo, ...]:
        return self._outputs

    def __repr__(self) -> str:
        return f"OnnxRuntimeSession({self.path!r}, providers={list(self.providers)})"

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on ``inputs`` (every input by name, with the model's dtype and rank) and
        return every output by name. Mismatched inputs raise :class:`InputError`."""
        feed = self._feed(inputs)
        try:
            values = self._session.run(None, feed)
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise BackendError(f"{self.path}: onnxruntime failed to run the model: {exc}") from exc
        return {info.name: value for info, value in zip(self._outputs, values, strict=True)}

    def _feed(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not isinstance(inputs, Mapping):
            raise InputError(
                f"{self.path}: inputs must map input names to numpy arrays, "
                f"got {type(inputs).__name__}"
            )
        expected = {info.name: info for info in self._inputs}
        missing = [name for name in expected if name not in inputs]
        if missing:
            raise InputError(f"{self.path}: missing input {_names(missing)}; {self._expects()}")
        extra = [name for name in inputs if name not in expected]
        if extra:
            raise InputError(f"{self.path}: unexpected input {_names(extra)}; {self._expects()}")
        return {name: check_value(info, inputs[name], self.path) for name, info in expected.items()}

    def _expects(self) -> str:
        return "the model expects " + ", ".join(str(info) for info in self._inputs)


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(str(name)) for name in names)


def check_value(info: TensorInfo, value: Any, path: str) -> np.ndarray:
    """``value`` as the array to feed for ``info``; a wrong type, dtype, rank or fixed dimension
    raises :class:`InputError` naming the input."""
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise InputError(
            f"{path}: input {info.name!r} must be a numpy array, got {type(value).__name__}"
        )
    if not _dtype_fits(info.dtype, value.dtype):
        raise InputError(
            f"{path}: input {info.name!r} has dtype {value.dtype}; the model expects {info.dtype}"
        )
    if info.shape is not None:
        _check_shape(info, info.shape, value.shape, path)
    return value


def _dtype_fits(expected: str, got: np.dtype[Any]) -> bool:
    if expected == "object":
        return got.kind in "OUS"
    try:
        return got == np.dtype(expected)
    except TypeError:
        return True  # no numpy equivalent (bfloat16, sequences): onnxruntime checks it


def _check_shape(
    info: TensorInfo, want: tuple[int | str | None, ...], got: tuple[int, ...], path: str
) -> None:
    if len(got) != len(want):
        raise InputError(
            f"{path}: input {info.name!r} has {len(got)} dimensions {list(got)}; "
            f"the model expects {len(want)}: {info}"
        )
    for axis, (size, actual) in enumerate(zip(want, got, strict=True)):
        if isinstance(size, int) and size != actual:
            raise InputError(
                f"{path}: input {info.name!r} has size {actual} on axis {axis}; "
                f"the model expects {size}: {info}"
            )
