"""Export: PyTorch models to ONNX, checked against PyTorch, packed as a voice bundle.

``export_voice`` turns an acoustic (or a voice conversion) and a vocoder checkpoint into a
bundle (see :mod:`autovoice.bundle` for reading one). Names are resolved on first use, so
importing this package, or its torch-free modules (``errors``, ``graph``), does not import
torch. ``CheckpointRef`` and ``resolve_checkpoint`` live in
:mod:`autovoice.training.checkpoints.references` and are named here as well.
"""

from __future__ import annotations

from typing import Any

from autovoice._lazy import by_module, lazy_export

_EXPORTS = by_module(
    {
        "autovoice.export.errors": ("ExportError", "ExportValidationError"),
        "autovoice.training.checkpoints.references": ("CheckpointRef", "resolve_checkpoint"),
        "autovoice.export.graph": ("read_graph_signature", "check_graph"),
        "autovoice.export.onnx": ("export_onnx",),
        "autovoice.export.validate": (
            "ValidationCase",
            "ValidationReport",
            "ValidationLengths",
            "acoustic_cases",
            "converter_cases",
            "vocoder_cases",
            "validate_exported_model",
        ),
        "autovoice.export.bundle_writer": ("export_voice",),
    }
)

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return lazy_export(__name__, _EXPORTS, name)
