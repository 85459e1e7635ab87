"""Graph signatures: the names, dtypes and axes of an exported model, declared once.

The model plugin declares its signature; the ONNX exporter reads it for input/output names and
dynamic axes, and every backend reads it to check inputs and name outputs. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

DTYPES = ("float32", "float16", "int64", "int32", "bool")


@attrs.frozen
class TensorSpec:
    """One input or output: ``shape`` items are fixed sizes (int) or dynamic axis names (str)."""

    name: str
    dtype: str = attrs.field(validator=attrs.validators.in_(DTYPES))
    shape: tuple[int | str, ...]

    @property
    def dynamic_axes(self) -> dict[int, str]:
        return {i: dim for i, dim in enumerate(self.shape) if isinstance(dim, str)}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        return cls(str(data["name"]), str(data["dtype"]), tuple(data["shape"]))


@attrs.frozen
class GraphSignature:
    """Inputs and outputs of one exported graph, in order."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """``{tensor name: {axis: axis name}}``, as ``torch.onnx.export`` takes it."""
        return {t.name: t.dynamic_axes for t in (*self.inputs, *self.outputs) if t.dynamic_axes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GraphSignature:
        return cls(
            tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
            tuple(TensorSpec.from_dict(t) for t in data["outputs"]),
        )


DURATIONS = "durations"
"""The acoustic output that times each token: whole mel frames per token ``(batch, tokens)``,
after pace, 0 past an item's tokens; an item's durations sum to its ``mel_lengths``."""
CONTROLS = ("pitch_shift", "energy_scale")
"""The acoustic inputs beyond pace that steer speech, each ``(batch,)`` float32: the pitch
shift in semitones (0: as predicted) and a factor on the predicted energy (1: as predicted)."""


def acoustic_signature(
    n_mels: int, *, controls: bool = True, durations: bool = True
) -> GraphSignature:
    """Text to mel: the signature every acoustic model exports. Graphs exported before speech
    controls and timestamps lack :data:`CONTROLS` (``controls=False``) and :data:`DURATIONS`
    (``durations=False``); the engine reads which a voice has from its bundle's signature."""
    inputs = [
        TensorSpec("tokens", "int64", ("batch", "tokens")),
        TensorSpec("token_lengths", "int64", ("batch",)),
        TensorSpec("speakers", "int64", ("batch",)),
        TensorSpec("pace", "float32", ("batch",)),
    ]
    outputs = [
        TensorSpec("mel", "float32", ("batch", n_mels, "frames")),
        TensorSpec("mel_lengths", "int64", ("batch",)),
    ]
    if controls:
        inputs += [TensorSpec(name, "float32", ("batch",)) for name in CONTROLS]
    if durations:
        outputs.append(TensorSpec(DURATIONS, "int64", ("batch", "tokens")))
    return GraphSignature(inputs=tuple(inputs), outputs=tuple(outputs))


AUDIO = "audio"
"""The output of a waveform vocoder's graph, ``(batch, samples)``."""
MAGNITUDE = "magnitude"
"""The output of a magnitude vocoder's graph, which Griffin-Lim turns into a waveform."""
REAL, IMAG = "real", "imag"
"""The outputs of a spectrum vocoder's graph, which one inverse STFT turns into a waveform."""


def vocoder_signature(n_mels: int) -> GraphSignature:
    """Mel to waveform: the signature of a waveform vocoder's graph, and of every vocoder stage
    once its head has made audio of the graph's output."""
    return GraphSignature(
        inputs=(TensorSpec("mel", "float32", ("batch", n_mels, "frames")),),
        outputs=(TensorSpec(AUDIO, "float32", ("batch", "samples")),),
    )


def magnitude_signature(n_mels: int, n_fft: int) -> GraphSignature:
    """Mel to linear STFT magnitude, ``(batch, n_fft // 2 + 1, frames)``: the graph of a
    vocoder whose phase Griffin-Lim finds at run time (``magnitude_gl``, head ``griffin_lim``)."""
    return GraphSignature(
        inputs=(TensorSpec("mel", "float32", ("batch", n_mels, "frames")),),
        outputs=(TensorSpec(MAGNITUDE, "float32", ("batch", n_fft // 2 + 1, "frames")),),
    )


def spectrum_signature(n_mels: int, n_fft: int) -> GraphSignature:
    """Mel to a complex STFT spectrum as its real and imaginary parts, each ``(batch, n_fft // 2
    + 1, frames)``: the graph of a vocoder that one inverse STFT turns into a waveform (head
    ``istft``, :func:`autovoice.audio.stft.inverse_stft`)."""
    bins = n_fft // 2 + 1
    return GraphSignature(
        inputs=(TensorSpec("mel", "float32", ("batch", n_mels, "frames")),),
        outputs=(
            TensorSpec(REAL, "float32", ("batch", bins, "frames")),
            TensorSpec(IMAG, "float32", ("batch", bins, "frames")),
        ),
    )
