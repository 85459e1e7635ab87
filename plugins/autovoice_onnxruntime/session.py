"""A loaded ONNX model: what it takes and gives, and running it with numpy in and numpy out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from autovoice.signature import DescribedSession, check_inputs, describe_tensor
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
        return describe_tensor(self)


def describe(arg: Any) -> TensorInfo:
    """A :class:`TensorInfo` from an onnxruntime ``NodeArg``."""
    raw = arg.shape
    shape = None
    if isinstance(raw, (list, tuple)) and raw:  # [] is a scalar or an undeclared shape: unknown
        shape = tuple(
            d if isinstance(d, (int, str)) and not isinstance(d, bool) else None for d in raw
        )
    return TensorInfo(name=arg.name, dtype=DTYPES.get(arg.type, arg.type), shape=shape)


class OnnxRuntimeSession(DescribedSession[TensorInfo]):
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

    def __repr__(self) -> str:
        return f"OnnxRuntimeSession({self.path!r}, providers={list(self.providers)})"

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on ``inputs`` (every input by name, with the model's dtype and rank) and
        return every output by name. Mismatched inputs raise :class:`InputError`
        (:func:`autovoice.signature.check_inputs`)."""
        feed = self._feed(inputs)
        try:
            values = self._session.run(None, feed)
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise BackendError(f"{self.path}: onnxruntime failed to run the model: {exc}") from exc
        return {info.name: value for info, value in zip(self._outputs, values, strict=True)}

    def _feed(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return check_inputs(self._inputs, inputs, self.path, error=InputError)
