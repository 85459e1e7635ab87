"""The errors of exporting a voice (torch-free, so commands can name them)."""

from __future__ import annotations

from autovoice.errors import AutovoiceError


class ExportError(AutovoiceError):
    """An export that cannot be made: names the checkpoint, stage, file or setting."""


class ExportValidationError(ExportError):
    """The exported graph disagrees with PyTorch: names the case, the output and the largest
    absolute difference."""
