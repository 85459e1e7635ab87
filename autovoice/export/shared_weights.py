"""One copy of each weight in a bundle: the ONNX graph's tensors point into the stage's
``.safetensors`` file.

A bundle stage holds its ONNX graph (for ONNX Runtime and TensorRT) and its export module's
weights as safetensors (for the PyTorch backend). Most of the graph's initializers are those
weights byte for byte, under the same names. A safetensors file is an 8-byte little-endian
header length, a JSON header giving each tensor's dtype, shape and byte range, then the raw
little-endian bytes; an ONNX tensor may keep its raw bytes in another file at an offset
(ONNX's external data). So each initializer equal to a safetensors tensor becomes a reference
into that file, and the graph keeps only what differs (weights the exporter transposed or
folded, constants). ONNX Runtime and TensorRT's parser read such references relative to the
graph's folder; :func:`autovoice.bundle.external.check_external_data` checks them before any
runtime does.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

from autovoice.export.errors import ExportError

_HEADER = struct.Struct("<Q")


def safetensors_layout(path: str | os.PathLike[str]) -> tuple[int, dict[str, Any]]:
    """The byte offset where the data of the safetensors file at ``path`` begins, and its
    header: ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}`` (offsets relative to
    the data), without ``__metadata__``."""
    where = Path(path)
    with open(where, "rb") as stream:
        head = stream.read(_HEADER.size)
        if len(head) != _HEADER.size:
            raise ExportError(f"{where}: not a safetensors file (shorter than its header length)")
        (length,) = _HEADER.unpack(head)
        try:
            header = json.loads(stream.read(length))
        except ValueError as exc:
            raise ExportError(f"{where}: not a safetensors file: {exc}") from None
    header.pop("__metadata__", None)
    return _HEADER.size + length, header


def share_weights(onnx_path: str | os.PathLike[str], weights_path: str | os.PathLike[str]) -> int:
    """Rewrite the ONNX graph at ``onnx_path`` so that every initializer equal (name, shape and
    bytes) to a tensor of the safetensors file ``weights_path`` beside it reads its bytes from
    there; returns how many do."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    graph_path, weights = Path(onnx_path), Path(weights_path)
    if graph_path.parent.resolve() != weights.parent.resolve():
        raise ExportError(f"{weights}: the weights must lie beside the graph {graph_path}")
    start, header = safetensors_layout(weights)
    model = onnx.load(os.fspath(graph_path))
    shared = 0
    with open(weights, "rb") as stream:
        for tensor in model.graph.initializer:
            entry = header.get(tensor.name)
            if entry is None or not tensor.HasField("raw_data"):
                continue
            begin, end = entry["data_offsets"]
            array = numpy_helper.to_array(tensor)
            if list(array.shape) != list(entry["shape"]) or array.nbytes != end - begin:
                continue
            stream.seek(start + begin)
            little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            if stream.read(end - begin) != little.tobytes():
                continue
            tensor.ClearField("raw_data")
            tensor.data_location = onnx.TensorProto.EXTERNAL
            del tensor.external_data[:]
            where = {"location": weights.name, "offset": start + begin, "length": end - begin}
            for key, value in where.items():
                field = tensor.external_data.add()
                field.key, field.value = key, str(value)
            shared += 1
    if shared:
        onnx.save(model, os.fspath(graph_path))
    return shared


__all__ = ["safetensors_layout", "share_weights"]
