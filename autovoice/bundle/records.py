"""What a voice bundle is made of: its format constants, its stages' and engines' records, and
the error every reader raises (torch-free)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from autovoice.errors import AutovoiceError
from autovoice.signature import GraphSignature

__all__ = [
    "ALL_STAGES",
    "CONVERSION_STAGES",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "SPEECH_STAGES",
    "STAGE_KINDS",
    "BundleError",
    "EngineInfo",
    "StageInfo",
]

FORMAT = "autovoice-voice"
FORMAT_VERSION = 2
"""2: the vocoder stage records ``head`` and ``head_options``; 1 (still read): it did not."""
MANIFEST = "manifest.json"
SPEECH_STAGES = ("acoustic", "vocoder")
"""The stages of a text-to-speech voice."""
CONVERSION_STAGES = ("converter", "vocoder")
"""The stages of a voice conversion voice."""
ALL_STAGES = ("acoustic", "converter", "vocoder")
STAGE_KINDS: Mapping[str, str] = {"acoustic": "model", "converter": "model", "vocoder": "vocoder"}
"""Stage -> the kind of plugin that made it."""


class BundleError(AutovoiceError):
    """A voice bundle that cannot be read: names the file and, for the manifest, the field."""


@attrs.frozen(kw_only=True)
class StageInfo:
    """One stage of a bundle: the plugin that rebuilds it and the files that hold it; for the
    vocoder, the head that makes a waveform of its graph's output and the head's options (every
    field, checked).

    A vocoder whose head needs no graph has no files (``onnx`` and ``weights`` are None,
    ``opset`` 0) and the signature every vocoder stage has once its head has run."""

    name: str
    plugin: str
    options: Mapping[str, Any]
    onnx: Path | None
    weights: Path | None
    signature: GraphSignature
    opset: int
    checkpoint: Mapping[str, Any]
    head: str | None = None
    """The vocoder's head (:data:`autovoice.heads.HEADS`); None for the other stages."""
    head_options: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def has_graph(self) -> bool:
        """Whether a backend can load the stage (it has an ONNX graph and weights)."""
        return self.onnx is not None and self.weights is not None

    def artifacts(self) -> dict[str, Path]:
        """``{"onnx": path, "weights": path}`` of the files that exist; a :class:`BundleError`
        for a stage with no graph (its head computes it from the mel)."""
        if self.onnx is None or self.weights is None:
            raise BundleError(
                f"{self.name} stage: plugin {self.plugin!r} has no graph or weights for a "
                f"backend to load; its head {self.head!r} computes it from the mel"
            )
        found = {"onnx": self.onnx, "weights": self.weights}
        return {kind: path for kind, path in found.items() if path.is_file()}


@attrs.frozen(kw_only=True)
class EngineInfo:
    """A TensorRT engine built for one stage on one kind of GPU."""

    stage: str
    file: Path
    key: str
    precision: str
    profiles: tuple[Any, ...]
    tensorrt: str
    gpu: str
