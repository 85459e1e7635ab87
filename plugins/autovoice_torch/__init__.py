"""Built-in PyTorch inference backend: eager execution of a voice's stages on CPU or CUDA.

Importing this module is cheap and never imports torch: the backend lives in
:mod:`autovoice_torch.backend`, imported by :meth:`autovoice.specs.PluginSpec.load`.
"""

from __future__ import annotations

from autovoice.hookspecs import hookimpl
from autovoice.specs import BackendSpec, Requirement
from autovoice_torch.options import TorchOptions

__all__ = ["SPEC", "TorchOptions", "autovoice_backends"]

SPEC = BackendSpec(
    name="pytorch",
    factory="autovoice_torch.backend:TorchBackend",
    requires=(Requirement(module="torch"), Requirement(module="safetensors")),
    extra="train",
    accepts=("weights", "checkpoint"),
    devices=("cpu", "cuda"),
    options_type=TorchOptions,
    description="PyTorch eager: rebuilds each stage through its model or vocoder plugin from a "
    "voice bundle's weights (or a training checkpoint) and runs it on CPU or CUDA.",
)


@hookimpl
def autovoice_backends() -> list[BackendSpec]:
    return [SPEC]
