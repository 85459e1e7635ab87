"""PyTorch to ONNX, with the names, dtypes and dynamic axes of the model's graph signature.

The TorchScript-based exporter (``dynamo=False``) is the default: it exports both built-in
models in well under a second and names the dynamic axes exactly as the signature does. The
``torch.export``-based one (``dynamo=True``) also works for both; it takes seconds, needs
``onnxscript`` and opset 18 or a conversion down to the requested opset, and its axis names are
replaced by the signature's after export.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.jit._trace import TracerWarning

from autovoice.export.errors import ExportError
from autovoice.export.graph import check_graph, name_axes, opset_of
from autovoice.signature import GraphSignature

__all__ = ["example_tensors", "export_onnx"]


def example_tensors(
    signature: GraphSignature, inputs: Mapping[str, np.ndarray]
) -> tuple[torch.Tensor, ...]:
    """The example inputs as tensors, in the signature's order."""
    missing = [name for name in signature.input_names if name not in inputs]
    if missing:
        raise ExportError(f"example inputs lack {', '.join(missing)}")
    return tuple(torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in signature.input_names)


def _dynamic_shapes(signature: GraphSignature) -> tuple[dict[int, Any], ...]:
    return tuple(
        {axis: torch.export.Dim.DYNAMIC for axis in t.dynamic_axes} for t in signature.inputs
    )


def _run_exporter(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    signature: GraphSignature,
    path: Path,
    opset: int,
    dynamo: bool,
) -> None:
    options: dict[str, Any] = {
        "input_names": signature.input_names,
        "output_names": signature.output_names,
        "opset_version": opset,
        "dynamo": dynamo,
    }
    if dynamo:
        options.update(
            dynamic_shapes=_dynamic_shapes(signature), external_data=False, verbose=False
        )
    else:
        options.update(dynamic_axes=signature.dynamic_axes(), do_constant_folding=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        warnings.simplefilter("ignore", TracerWarning)
        torch.onnx.export(module, args, os.fspath(path), **options)


def export_onnx(
    module: torch.nn.Module,
    signature: GraphSignature,
    path: str | os.PathLike[str],
    *,
    opset: int,
    example_inputs: Mapping[str, np.ndarray],
    dynamo: bool = False,
) -> Path:
    """Export ``module`` (in eval mode) to ``path`` with ``signature``'s names and dynamic axes
    at operator set ``opset``; the written graph is checked against the signature.

    ``example_inputs`` (numpy arrays by input name) are traced; give a batch of two or more
    with unequal lengths, so that no size is frozen into the graph.
    """
    import onnx

    target = Path(path)
    args = example_tensors(signature, example_inputs)
    module.eval()
    try:
        _run_exporter(module, args, signature, target, opset, dynamo)
    except Exception as exc:  # the exporters raise many kinds; the message names the cause
        raise ExportError(f"{target}: ONNX export failed: {type(exc).__name__}: {exc}") from exc
    model = onnx.load(os.fspath(target))
    name_axes(model, signature)
    if opset_of(model) != opset:
        raise ExportError(f"{target}: exported at opset {opset_of(model)}, not the {opset} asked")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{target}: the exported graph is not valid ONNX: {exc}") from exc
    check_graph(model, signature, os.fspath(target))
    onnx.save(model, os.fspath(target))
    return target
