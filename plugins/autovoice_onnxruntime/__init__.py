"""Built-in ONNX Runtime inference backend: runs any ONNX graph, numpy in and numpy out.

Importing this module is cheap and never imports onnxruntime (nor torch): the backend lives in
:mod:`autovoice_onnxruntime.backend`, imported by :meth:`autovoice.specs.PluginSpec.load`.
"""

from __future__ import annotations

from autovoice.hookspecs import hookimpl
from autovoice.specs import BackendSpec, Requirement
from autovoice_onnxruntime.options import OnnxRuntimeOptions

__all__ = ["SPEC", "OnnxRuntimeOptions", "autovoice_backends"]

SPEC = BackendSpec(
    name="onnxruntime",
    factory="autovoice_onnxruntime.backend:OnnxRuntimeBackend",
    requires=(Requirement(module="onnxruntime"),),
    extra="onnxruntime",
    accepts=("onnx",),
    devices=("cpu", "cuda", "tensorrt"),
    options_type=OnnxRuntimeOptions,
    description="ONNX Runtime: runs exported .onnx graphs on CPU, or with onnxruntime-gpu on "
    "CUDA or through its TensorRT provider (device tensorrt, or option tensorrt = true), "
    "falling back to CPU, with a warning, when those are not usable.",
)


@hookimpl
def autovoice_backends() -> list[BackendSpec]:
    return [SPEC]
