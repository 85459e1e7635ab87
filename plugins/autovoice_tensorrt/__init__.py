"""Built-in TensorRT backend: builds engines from ONNX models, caches them, runs them on CUDA.

Importing this module is cheap: it never imports tensorrt, cuda-python (nor torch). The backend
lives in :mod:`autovoice_tensorrt.backend`, imported by :meth:`autovoice.specs.PluginSpec.load`.
"""

from __future__ import annotations

from autovoice.hookspecs import hookimpl
from autovoice.specs import BackendSpec, Requirement
from autovoice_tensorrt.options import TensorRTOptions

__all__ = ["SPEC", "TensorRTOptions", "autovoice_backends"]

SPEC = BackendSpec(
    name="tensorrt",
    factory="autovoice_tensorrt.backend:TensorRTBackend",
    requires=(
        Requirement(module="tensorrt"),
        Requirement(module="cuda.bindings", package="cuda-python"),
    ),
    extra="tensorrt",
    accepts=("engine", "onnx"),
    devices=("cuda",),
    options_type=TensorRTOptions,
    probe="autovoice_tensorrt.probe:probe",
    engine_builder="autovoice_tensorrt.engines:BUILDER",
    description="TensorRT: runs a voice's prebuilt engines, or builds optimized engines from "
    ".onnx graphs (FP32 or FP16, strongly typed, cached per GPU), on a CUDA GPU.",
)


@hookimpl
def autovoice_backends() -> list[BackendSpec]:
    return [SPEC]
