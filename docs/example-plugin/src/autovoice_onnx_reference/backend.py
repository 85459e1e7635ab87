"""The ``onnx_reference`` backend: any ONNX graph, run by onnx's ``ReferenceEvaluator``.

This is the only module of the plugin that imports onnx. autovoice imports it through the spec's
``factory`` path, after checking that onnx is installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

from autovoice import AutovoiceError
from autovoice_onnx_reference.options import ReferenceOptions

NAME = "onnx_reference"


class ReferenceBackendError(AutovoiceError):
    """A model or an input this backend cannot run; the message says which one and why."""


class ReferenceBackend:
    """Loads ONNX files into :class:`ReferenceSession` objects. Runs on the CPU only."""

    devices = ("cpu",)

    def __init__(self, options: ReferenceOptions | None = None) -> None:
        self.options = options if options is not None else ReferenceOptions()

    def load(
        self, artifact: str | os.PathLike[str], device: str = "cpu", *, stage: object = None
    ) -> ReferenceSession:
        """Read the ONNX file ``artifact`` and prepare it to run on ``device`` (``cpu``).
        ``stage`` describes the voice stage the file holds; an ONNX file needs nothing more."""
        if device not in self.devices:
            raise ReferenceBackendError(
                f"backend {NAME!r} runs on cpu only, not on {device!r}; "
                f'set device = "cpu" or choose another backend'
            )
        path = Path(artifact)
        if not path.is_file():
            raise ReferenceBackendError(f"backend {NAME!r}: no ONNX file at {path}")
        try:
            model = onnx.load(os.fspath(path))
            if self.options.check_model:
                onnx.checker.check_model(model)
            evaluator = ReferenceEvaluator(model, verbose=self.options.verbose)
        except Exception as exc:  # protobuf, checker and evaluator errors alike
            raise ReferenceBackendError(f"backend {NAME!r} cannot load {path}: {exc}") from exc
        return ReferenceSession(model, evaluator, path)


class ReferenceSession:
    """One loaded graph. ``run`` takes and returns numpy arrays keyed by tensor name."""

    def __init__(self, model: onnx.ModelProto, evaluator: ReferenceEvaluator, path: Path) -> None:
        self.path = path
        self._evaluator = evaluator
        graph = model.graph
        with_defaults = {init.name for init in graph.initializer}
        # Graph inputs backed by an initializer have a default value: callers may override them,
        # but only the others are required, and only those are listed (as onnxruntime does).
        self.inputs: tuple[str, ...] = tuple(
            value.name for value in graph.input if value.name not in with_defaults
        )
        self.outputs: tuple[str, ...] = tuple(value.name for value in graph.output)
        self._known = {value.name for value in graph.input}
        self._declared = {value.name: value.type for value in graph.input}

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph once. Every required input must be given; unknown names are refused."""
        missing = [name for name in self.inputs if name not in inputs]
        if missing:
            raise ReferenceBackendError(
                f"{self.path}: missing input {missing[0]!r} "
                f"(the graph needs {', '.join(self.inputs)})"
            )
        unknown = sorted(set(inputs) - self._known)
        if unknown:
            raise ReferenceBackendError(
                f"{self.path}: unknown input {unknown[0]!r} "
                f"(the graph takes {', '.join(sorted(self._known))})"
            )
        feeds = {name: self._checked(name, value) for name, value in inputs.items()}
        try:
            results = self._evaluator.run(None, feeds)
        except Exception as exc:
            raise ReferenceBackendError(f"{self.path}: evaluation failed: {exc}") from exc
        return {name: np.asarray(value) for name, value in zip(self.outputs, results, strict=True)}

    def _checked(self, name: str, value: object) -> np.ndarray:
        """``value`` as an array, refused when its dtype or rank differ from the graph's."""
        array = np.asarray(value)
        declared = self._declared[name]
        if not declared.HasField("tensor_type"):
            return array
        tensor = declared.tensor_type
        if tensor.elem_type == onnx.TensorProto.UNDEFINED:
            return array
        expected = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type))
        if expected.kind in "biuf" and array.dtype != expected:
            raise ReferenceBackendError(
                f"{self.path}: input {name!r} must be {expected}, got {array.dtype}"
            )
        if tensor.HasField("shape") and array.ndim != len(tensor.shape.dim):
            raise ReferenceBackendError(
                f"{self.path}: input {name!r} must have {len(tensor.shape.dim)} dimensions, "
                f"got shape {array.shape}"
            )
        return array
