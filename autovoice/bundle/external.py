"""Where an ONNX graph's weights may live outside it, checked before a runtime reads them.

An ONNX tensor can keep its bytes in another file (``data_location = EXTERNAL``: a ``location``
relative to the graph's folder, an ``offset`` and a ``length``). A voice bundle's exporter uses
this to keep one copy of each weight: the graph's tensors point into the stage's
``.safetensors`` file (:mod:`autovoice.export.shared_weights`). A graph from a user is untrusted,
and ONNX Runtime releases before 1.24 follow any location, ``../../etc/passwd`` included, so
every reference is checked here first: a plain file name beside the graph, naming a regular
file that stays in the graph's folder when links are followed (in a bundle, the stage's weights
file only), the range inside that file.

Reading the references takes the ``onnx`` package (the ``onnxruntime``, ``gpu``, ``tensorrt``
and ``train`` extras bring it). Without it, a graph whose bytes hold no ``location`` key (so no
external data at all) passes, and any other is refused with the install line.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from autovoice.bundle.records import BundleError

_LOCATION = b"location"


@attrs.frozen
class ExternalRef:
    """One tensor's bytes in another file: ``length`` bytes (None: to the end) at ``offset``."""

    tensor: str
    location: str
    offset: int
    length: int | None


def _tensors_of_graph(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _tensors_of_node(node)


def _tensors_of_node(node: Any) -> Iterator[Any]:
    for attribute in node.attribute:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        for sparse in (*attribute.sparse_tensors, *(
            [attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []
        )):  # fmt: skip
            yield sparse.values
            yield sparse.indices
        if attribute.HasField("g"):
            yield from _tensors_of_graph(attribute.g)
        for graph in attribute.graphs:
            yield from _tensors_of_graph(graph)


def _all_tensors(model: Any) -> Iterator[Any]:
    yield from _tensors_of_graph(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _tensors_of_node(node)


def _whole(text: str, what: str, where: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BundleError(f"{where}: external data {what} {text!r} is not a whole number") from None
    if value < 0:
        raise BundleError(f"{where}: external data {what} {value} is negative")
    return value


def _ref(tensor: Any, where: str) -> ExternalRef:
    fields = {entry.key: entry.value for entry in tensor.external_data}
    at = f"{where}: tensor {tensor.name!r}"
    if "location" not in fields:
        raise BundleError(f"{at}: external data without a location")
    length = fields.get("length")
    return ExternalRef(
        tensor=tensor.name,
        location=fields["location"],
        offset=_whole(fields.get("offset", "0"), "offset", at),
        length=None if length is None else _whole(length, "length", at),
    )


def external_refs(path: str | os.PathLike[str]) -> list[ExternalRef]:
    """Every tensor of the ONNX graph at ``path`` that keeps its bytes in another file."""
    where = Path(path)
    try:
        data = where.read_bytes()
    except OSError as exc:
        raise BundleError(f"{where}: cannot read the ONNX graph: {exc.strerror or exc}") from None
    if _LOCATION not in data:
        return []
    try:
        import onnx
    except ImportError:
        raise BundleError(
            f"{where}: the graph keeps weights in another file; checking where needs the onnx "
            "package: pip install onnx"
        ) from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError has no common base to name
        raise BundleError(f"{where}: not an ONNX model: {exc}") from None
    external = onnx.TensorProto.EXTERNAL
    return [_ref(t, str(where)) for t in _all_tensors(model) if t.data_location == external]


def check_external_data(
    path: str | os.PathLike[str], *, allowed: Collection[str] | None = None
) -> list[ExternalRef]:
    """The external references of the ONNX graph at ``path``, each checked: a file name beside
    the graph (one of ``allowed``, when given), a regular file that links lead nowhere outside
    the graph's folder,
    its byte range inside that file. A :class:`BundleError` names the graph, tensor and file."""
    where = Path(path)
    refs = external_refs(where)
    sizes: dict[str, int] = {}
    for ref in refs:
        at = f"{where}: tensor {ref.tensor!r}"
        name = PurePosixPath(ref.location)
        if name.is_absolute() or "\\" in ref.location or len(name.parts) != 1:
            raise BundleError(
                f"{at}: external data at {ref.location!r}; only a file beside the graph is read"
            )
        if allowed is not None and ref.location not in allowed:
            raise BundleError(
                f"{at}: external data in {ref.location!r}; this graph may only read "
                + ", ".join(sorted(allowed))
            )
        if ref.location not in sizes:
            target = where.parent / ref.location
            if not target.resolve().is_relative_to(where.parent.resolve()):
                raise BundleError(f"{at}: external data file {target} links out of its folder")
            if not target.is_file():
                raise BundleError(f"{at}: external data file {target} is not a regular file")
            sizes[ref.location] = target.stat().st_size
        size = sizes[ref.location]
        end = ref.offset + (ref.length if ref.length is not None else 0)
        if ref.offset > size or end > size:
            raise BundleError(
                f"{at}: external data bytes {ref.offset}..{end} lie outside {ref.location} "
                f"({size} bytes)"
            )
    return refs


def load_with_weights(path: str | os.PathLike[str]) -> Any:
    """The ``onnx.ModelProto`` at ``path`` with every external tensor's bytes read into it
    (:func:`check_external_data` first). ``onnx.load`` would read them too, but refuses a file
    with more than one hard link, which installers that link files from a cache make."""
    import onnx

    where = Path(path)
    check_external_data(where)
    try:
        model = onnx.load(os.fspath(where), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, OSError
        raise BundleError(f"{where}: not an ONNX model: {exc}") from None
    files: dict[str, bytes] = {}
    for tensor in _all_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        ref = _ref(tensor, str(where))
        if ref.location not in files:
            files[ref.location] = (where.parent / ref.location).read_bytes()
        data = files[ref.location]
        end = len(data) if ref.length is None else ref.offset + ref.length
        tensor.raw_data = data[ref.offset : end]
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
    return model


__all__ = ["ExternalRef", "check_external_data", "external_refs", "load_with_weights"]
