"""Inputs and outputs of an engine as numpy sees them: dtypes, shapes, and input checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from autovoice.errors import BackendError

#: TensorRT DataType names -> numpy dtype names (None: numpy has no such type)
TRT_DTYPES: Mapping[str, str | None] = {
    "FLOAT": "float32",
    "HALF": "float16",
    "INT8": "int8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
    "UINT8": "uint8",
    "BF16": None,
    "FP8": None,
    "INT4": None,
    "FP4": None,
}


class InputError(BackendError):
    """Inputs that do not fit the engine; the message names the input and what it takes."""


def enum_name(value: Any) -> str:
    """``FLOAT`` for ``trt.DataType.FLOAT`` (and ``INPUT`` for ``trt.TensorIOMode.INPUT``)."""
    return str(getattr(value, "name", value)).rsplit(".", 1)[-1]


def numpy_dtype(trt_dtype: Any, where: str) -> str:
    """The numpy dtype name of a TensorRT data type; one numpy lacks raises naming ``where``."""
    name = enum_name(trt_dtype)
    dtype = TRT_DTYPES.get(name)
    if dtype is None:
        raise BackendError(f"{where} has TensorRT type {name}, which numpy cannot hold")
    return dtype


@attrs.frozen
class TensorInfo:
    """One input or output: numpy dtype name and shape (an int, the signature's axis name, or
    None for a dynamic size)."""

    name: str
    dtype: str
    shape: tuple[int | str | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    def __str__(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} ({self.dtype} [{dims}])"


def describe(engine: Any, name: str, axes: Mapping[str, Sequence[int | str]]) -> TensorInfo:
    """Tensor ``name`` of ``engine``, its dynamic sizes named after the signature's ``axes``."""
    dims = tuple(int(d) for d in engine.get_tensor_shape(name))
    named = axes.get(name, ())
    shape = tuple(
        d if d >= 0 else (named[i] if i < len(named) and isinstance(named[i], str) else None)
        for i, d in enumerate(dims)
    )
    return TensorInfo(name, numpy_dtype(engine.get_tensor_dtype(name), f"tensor {name!r}"), shape)


def check_input(info: TensorInfo, value: Any, path: str) -> np.ndarray:
    """``value`` as a C-contiguous array for ``info``; a wrong type, dtype, rank or fixed size
    raises :class:`InputError` naming the input."""
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise InputError(
            f"{path}: input {info.name!r} must be a numpy array, got {type(value).__name__}"
        )
    if value.dtype != np.dtype(info.dtype):
        raise InputError(
            f"{path}: input {info.name!r} has dtype {value.dtype}; the engine expects {info.dtype}"
        )
    if value.ndim != len(info.shape):
        raise InputError(
            f"{path}: input {info.name!r} has {value.ndim} dimensions {list(value.shape)}; "
            f"the engine expects {len(info.shape)}: {info}"
        )
    for axis, (want, got) in enumerate(zip(info.shape, value.shape, strict=True)):
        if isinstance(want, int) and want != got:
            raise InputError(
                f"{path}: input {info.name!r} has size {got} on axis {axis}; "
                f"the engine expects {want}: {info}"
            )
    return np.ascontiguousarray(value)


__all__ = [
    "TRT_DTYPES",
    "InputError",
    "TensorInfo",
    "check_input",
    "describe",
    "enum_name",
    "numpy_dtype",
]
