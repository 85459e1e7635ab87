"""Errors of the onnxruntime backend (cheap to import)."""

from __future__ import annotations

from autovoice.errors import BackendError


class InputError(BackendError):
    """Inputs given to a session do not match what its model expects; the message names the
    input, what the model expects and what was given."""


__all__ = ["BackendError", "InputError"]
