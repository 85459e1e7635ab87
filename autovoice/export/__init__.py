"""Export: PyTorch models to ONNX, checked against PyTorch, packed as a voice bundle.

``export_voice`` turns an acoustic (or a voice conversion) and a vocoder checkpoint into a
bundle (see :mod:`autovoice.bundle` for reading one). Names are resolved on first use, so
importing this package, or its torch-free modules (``errors``, ``graph``), does not import
torch. ``CheckpointRef`` and ``resolve_checkpoint`` live in
:mod:`autovoice.training.checkpoints.references` and are named here as well.
"""

from __future__ import annotations

from typing import Any

from autovoice._lazy import lazy_export

_EXPORTS = {
    "ExportError": "autovoice.export.errors",
    "ExportValidationError": "autovoice.export.errors",
    "CheckpointRef": "autovoice.training.checkpoints.references",
    "resolve_checkpoint": "autovoice.training.checkpoints.references",
    "read_graph_signature": "autovoice.export.graph",
    "check_graph": "autovoice.export.graph",
    "export_onnx": "autovoice.export.onnx",
    "ValidationCase": "autovoice.export.validate",
    "ValidationReport": "autovoice.export.validate",
    "ValidationLengths": "autovoice.export.validate",
    "acoustic_cases": "autovoice.export.validate",
    "converter_cases": "autovoice.export.validate",
    "vocoder_cases": "autovoice.export.validate",
    "validate_exported_model": "autovoice.export.validate",
    "export_voice": "autovoice.export.bundle_writer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return lazy_export(__name__, _EXPORTS, name)
