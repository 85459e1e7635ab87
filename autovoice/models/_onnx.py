"""ONNX export of a model object (not a checkpoint): the exporter and the parity check of
:mod:`autovoice.export`, on the validation cases of the model's stage."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from autovoice.config.schema import ExportConfig
from autovoice.export.onnx import export_onnx
from autovoice.export.validate import ValidationCase, validate_exported_model
from autovoice.signature import GraphSignature

TRACED = 2
"""Batch size of the traced example (two unequal lengths, so that no size is frozen in)."""


def export_module(
    module: torch.nn.Module,
    signature: GraphSignature,
    cases: Sequence[ValidationCase],
    path: str | os.PathLike[str],
    *,
    opset: int | None,
    validate: bool,
    tolerance: float | None,
) -> Path:
    """Write ``module`` as ONNX at ``path`` with ``signature``'s names and dynamic axes
    (:func:`export_onnx`), traced on the first of ``cases`` (batch :data:`TRACED`), then, with
    ``validate``, held to ``module`` on every case (:func:`validate_exported_model`).
    ``opset`` and ``tolerance`` default to ``[export]``'s."""
    defaults = ExportConfig()
    target = export_onnx(
        module.eval(),
        signature,
        path,
        opset=defaults.opset if opset is None else opset,
        example_inputs=cases[0].inputs,
    )
    if validate:
        limit = defaults.tolerance if tolerance is None else tolerance
        validate_exported_model(module, target, signature, cases, tolerance=limit)
    return target


class OnnxExport:
    """``export_to_onnx`` for a model class whose :meth:`onnx_parts` says what to export."""

    def onnx_parts(self) -> tuple[torch.nn.Module, GraphSignature, list[ValidationCase]]:
        """The module to export, its graph signature and the validation cases (the first
        traced)."""
        raise NotImplementedError

    def export_to_onnx(
        self: Any,
        path: str | os.PathLike[str],
        *,
        opset: int | None = None,
        validate: bool = True,
        tolerance: float | None = None,
    ) -> Path:
        """Export :meth:`onnx_parts`'s module to ``path`` (:func:`export_module`); this model
        is not changed. With ``validate`` the graph is held to the module through ONNX
        Runtime on short, typical and long inputs."""
        module, signature, cases = self.onnx_parts()
        return export_module(
            module, signature, cases, path, opset=opset, validate=validate, tolerance=tolerance
        )
