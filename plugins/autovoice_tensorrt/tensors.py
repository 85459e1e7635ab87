"""Inputs and outputs of an engine as numpy sees them: dtypes and shapes (inputs are checked
against them by :func:`autovoice.signature.check_inputs`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from autovoice.errors import BackendError
from autovoice.signature import describe_tensor

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
        return describe_tensor(self)


def describe(engine: Any, name: str, axes: Mapping[str, Sequence[int | str]]) -> TensorInfo:
    """Tensor ``name`` of ``engine``, its dynamic sizes named after the signature's ``axes``."""
    dims = tuple(int(d) for d in engine.get_tensor_shape(name))
    named = axes.get(name, ())
    shape = tuple(
        d if d >= 0 else (named[i] if i < len(named) and isinstance(named[i], str) else None)
        for i, d in enumerate(dims)
    )
    return TensorInfo(name, numpy_dtype(engine.get_tensor_dtype(name), f"tensor {name!r}"), shape)


__all__ = [
    "TRT_DTYPES",
    "InputError",
    "TensorInfo",
    "describe",
    "enum_name",
    "numpy_dtype",
]
