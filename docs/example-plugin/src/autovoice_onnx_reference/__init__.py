"""autovoice plugin: an inference backend built on onnx's pure-Python reference evaluator.

autovoice imports this module for every command, so it stays cheap: it imports autovoice and
attrs, never onnx. The backend itself lives in :mod:`autovoice_onnx_reference.backend` and is
imported only when someone uses it.
"""

from __future__ import annotations

from autovoice import BackendSpec, Requirement, hookimpl
from autovoice_onnx_reference.options import ReferenceOptions

__all__ = ["ReferenceOptions", "autovoice_backends"]
__version__ = "0.1.0"


@hookimpl
def autovoice_backends() -> list[BackendSpec]:
    return [
        BackendSpec(
            name="onnx_reference",
            factory="autovoice_onnx_reference.backend:ReferenceBackend",
            requires=(Requirement(module="onnx", package="onnx"),),
            accepts=("onnx",),
            devices=("cpu",),
            options_type=ReferenceOptions,
            description=(
                "Runs any ONNX graph with onnx's pure-Python reference evaluator: "
                "slow, but an independent check of the other backends."
            ),
        )
    ]
