"""Where an ONNX graph's weights may live outside it, checked before a runtime reads them.

An ONNX tensor can keep its bytes in another file (``data_location = EXTERNAL``: a ``location``
relative to the graph's folder, an ``offset`` and a ``length``). A voice bundle's exporter uses
this to keep one copy of each weight: the graph's tensors point into the stage's
``.safetensors`` file (:mod:`autovoice.export.shared_weights`). A graph from a user is untrusted,
and ONNX Runtime releases before 1.24 follow any location, ``../../etc/passwd`` included, so
every reference is checked here first: a plain file name beside the graph, naming a regular
file that stays in the graph's folder when links are followed (in a bundle, the stage's weights
file only), the range inside that file.

The references are read from the graph's protobuf encoding directly (:func:`_wire_fields`, the
few ONNX fields on the way to a tensor's external data), not with the ``onnx`` package: this
check runs before every ONNX Runtime session, and ``import onnx`` alone takes about a second on
a small CPU, which synthesis from the command line would pay each time. A graph whose bytes hold
no ``location`` key has no external data and is not parsed at all.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator
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


def _whole(text: str, what: str, where: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BundleError(f"{where}: external data {what} {text!r} is not a whole number") from None
    if value < 0:
        raise BundleError(f"{where}: external data {what} {value} is negative")
    return value


def _ref(name: str, entries: Iterable[tuple[str, str]], where: str) -> ExternalRef:
    fields = dict(entries)
    at = f"{where}: tensor {name!r}"
    if "location" not in fields:
        raise BundleError(f"{at}: external data without a location")
    length = fields.get("length")
    return ExternalRef(
        tensor=name,
        location=fields["location"],
        offset=_whole(fields.get("offset", "0"), "offset", at),
        length=None if length is None else _whole(length, "length", at),
    )


class _Malformed(Exception):
    pass


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise _Malformed
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def _wire_fields(data: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """``(field number, value)`` of each field of one protobuf message: an integer for a varint,
    the bytes for a length-delimited field (a sub-message, a string); fixed-width ones skipped."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise _Malformed
            yield number, data[at : at + length]
            at += length
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise _Malformed
    if at != len(data):
        raise _Malformed


def _messages(data: memoryview, numbers: Collection[int]) -> Iterator[memoryview]:
    for number, value in _wire_fields(data):
        if number in numbers and isinstance(value, memoryview):
            yield value


# ONNX field numbers (onnx.proto) on the way from a model to its tensors' external data
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_GRAPH_NODES, _GRAPH_TENSORS, _GRAPH_SPARSE = 1, 5, 15
_NODE_ATTRIBUTES, _FUNCTION_NODES = 5, 7
_ATTRIBUTE_TENSORS, _ATTRIBUTE_GRAPHS, _ATTRIBUTE_SPARSE = (5, 10), (6, 11), (22, 23)
_SPARSE_PARTS = (1, 2)  # values, indices
_TENSOR_NAME, _TENSOR_EXTERNAL, _TENSOR_LOCATION, _EXTERNAL = 8, 13, 14, 1


def _wire_tensors_of_nodes(nodes: Iterator[memoryview]) -> Iterator[memoryview]:
    for node in nodes:
        for attribute in _messages(node, (_NODE_ATTRIBUTES,)):
            yield from _messages(attribute, _ATTRIBUTE_TENSORS)
            for sparse in _messages(attribute, _ATTRIBUTE_SPARSE):
                yield from _messages(sparse, _SPARSE_PARTS)
            for graph in _messages(attribute, _ATTRIBUTE_GRAPHS):
                yield from _wire_tensors_of_graph(graph)


def _wire_tensors_of_graph(graph: memoryview) -> Iterator[memoryview]:
    yield from _messages(graph, (_GRAPH_TENSORS,))
    for sparse in _messages(graph, (_GRAPH_SPARSE,)):
        yield from _messages(sparse, _SPARSE_PARTS)
    yield from _wire_tensors_of_nodes(_messages(graph, (_GRAPH_NODES,)))


def _wire_tensors(model: memoryview) -> Iterator[memoryview]:
    for graph in _messages(model, (_MODEL_GRAPH,)):
        yield from _wire_tensors_of_graph(graph)
    for function in _messages(model, (_MODEL_FUNCTIONS,)):
        yield from _wire_tensors_of_nodes(_messages(function, (_FUNCTION_NODES,)))


def _text(value: memoryview) -> str:
    return bytes(value).decode("utf-8", errors="replace")


def _wire_ref(tensor: memoryview, where: str) -> ExternalRef | None:
    name, location, entries = "", 0, []
    for number, value in _wire_fields(tensor):
        if number == _TENSOR_NAME and isinstance(value, memoryview):
            name = _text(value)
        elif number == _TENSOR_LOCATION and isinstance(value, int):
            location = value
        elif number == _TENSOR_EXTERNAL and isinstance(value, memoryview):
            pair = dict(_wire_fields(value))
            key, text = pair.get(1, memoryview(b"")), pair.get(2, memoryview(b""))
            if isinstance(key, memoryview) and isinstance(text, memoryview):
                entries.append((_text(key), _text(text)))
    return _ref(name, entries, where) if location == _EXTERNAL else None


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
        found = [_wire_ref(t, str(where)) for t in _wire_tensors(memoryview(data))]
    except _Malformed:
        raise BundleError(f"{where}: not an ONNX model (its encoding is broken)") from None
    return [ref for ref in found if ref is not None]


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
    """The ``onnx.ModelProto`` at ``path`` with its initializers' external bytes read into it
    (:func:`check_external_data` first; external data anywhere else, which the exporter never
    writes, is a :class:`BundleError`). ``onnx.load`` would read them too, but refuses a file
    with more than one hard link, which installers that link files from a cache make."""
    import onnx

    where = Path(path)
    refs = check_external_data(where)
    try:
        model = onnx.load(os.fspath(where), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, OSError
        raise BundleError(f"{where}: not an ONNX model: {exc}") from None
    files: dict[str, bytes] = {}
    read = 0
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = ((entry.key, entry.value) for entry in tensor.external_data)
        ref = _ref(tensor.name, entries, str(where))
        if ref.location not in files:
            files[ref.location] = (where.parent / ref.location).read_bytes()
        data = files[ref.location]
        end = len(data) if ref.length is None else ref.offset + ref.length
        tensor.raw_data = data[ref.offset : end]
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
        read += 1
    if read != len(refs):
        raise BundleError(
            f"{where}: {len(refs) - read} tensors outside the graph's initializers keep their "
            "bytes in another file; only initializers are read"
        )
    return model


__all__ = ["ExternalRef", "check_external_data", "external_refs", "load_with_weights"]
