"""Graph signatures: the names, dtypes and axes of an exported model, declared once.

The model plugin declares its signature; the ONNX exporter reads it for input/output names and
dynamic axes, and every backend reads it to check inputs and name outputs. :func:`check_inputs`
is the one check of what a graph is fed, used by the stage runner (against the declared
signature) and by each backend's session (against the graph it opened). Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs
import numpy as np

from autovoice.errors import AutovoiceError, BackendError

DTYPES = ("float32", "float16", "int64", "int32", "bool")


class SignatureError(AutovoiceError):
    """A malformed signature, or a graph whose inputs and outputs are not those declared; the
    message names the field or the file and the tensor."""


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

    def check_inputs(self, inputs: Any, where: str) -> dict[str, np.ndarray]:
        """``inputs`` checked against the declared inputs (:func:`check_inputs`; a
        :class:`~autovoice.errors.BackendError` naming ``where`` and the input)."""
        return check_inputs(self.inputs, inputs, where, holder="the signature")

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
MEL_FRAMES = "mel_frames"
"""An optional input of a vocoder stage wrapped in a head (not of its graph), ``(batch,)``
int64: the frames of each item's mel that its audio depends on, its own length and the silent
tail after it. A head that works item by item (Griffin-Lim) then works on those frames alone,
as it would for that item by itself, and leaves the rest of the row silent."""


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


# -- reading a declared signature and holding a graph to it -------------------------------------


def _fail(path: str, message: str, value: Any = None) -> SignatureError:
    got = "" if value is None else f", got {value!r:.60}"
    return SignatureError(f"{path}: {message}{got}")


def _dim(value: Any, path: str) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and value:
        return value
    raise _fail(path, "expected a size >= 1 or an axis name", value)


def parse_tensor(data: Any, path: str) -> TensorSpec:
    """One declared tensor, ``{"name", "dtype", "shape"}``, every field checked."""
    if not isinstance(data, Mapping) or set(data) != {"name", "dtype", "shape"}:
        raise _fail(path, "expected an object with name, dtype and shape", data)
    name, dtype, shape = data["name"], data["dtype"], data["shape"]
    if not isinstance(name, str) or not name:
        raise _fail(f"{path}.name", "expected a non-empty string", name)
    if dtype not in DTYPES:
        raise _fail(f"{path}.dtype", f"expected one of {', '.join(DTYPES)}", dtype)
    if not isinstance(shape, list):
        raise _fail(f"{path}.shape", "expected a list of sizes and axis names", shape)
    dims = tuple(_dim(d, f"{path}.shape[{i}]") for i, d in enumerate(shape))
    return TensorSpec(name, dtype, dims)


def parse_signature(data: Any, path: str) -> GraphSignature:
    """A declared signature (``{"inputs": [...], "outputs": [...]}``, as :meth:`to_dict` writes
    it) with every field checked; a :class:`SignatureError` names the first wrong one."""
    if not isinstance(data, Mapping) or set(data) != {"inputs", "outputs"}:
        raise _fail(path, "expected an object with inputs and outputs", data)
    sides = []
    for side in ("inputs", "outputs"):
        items = data[side]
        if not isinstance(items, list) or not items:
            raise _fail(f"{path}.{side}", "expected a non-empty list of tensors", items)
        tensors = tuple(parse_tensor(t, f"{path}.{side}[{i}]") for i, t in enumerate(items))
        names = [t.name for t in tensors]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise _fail(f"{path}.{side}", f"tensor {twice[0]!r} is listed twice")
        sides.append(tensors)
    return GraphSignature(sides[0], sides[1])


def tensor_mismatches(found: Any, declared: TensorSpec, side: str) -> list[str]:
    """How a graph's tensor ``found`` (``name``, ``dtype``, and ``shape``: None when its rank is
    unknown, a dynamic axis as None or a name) fails the ``declared`` one. A dynamic axis takes
    a declared size; a fixed one must be the declared size, and a declared dynamic axis must be
    dynamic in the graph."""
    what = f"{side} {declared.name!r}"
    if str(found.dtype) != declared.dtype:
        return [f"{what} is {found.dtype} in the graph, declared {declared.dtype}"]
    shape = found.shape
    if shape is None:
        return []
    if len(shape) != len(declared.shape):
        return [f"{what} has {len(shape)} axes {list(shape)}, declared {list(declared.shape)}"]
    problems = []
    for axis, (got, want) in enumerate(zip(shape, declared.shape, strict=True)):
        fixed = isinstance(got, int) and not isinstance(got, bool)
        if fixed and isinstance(want, int) and got != want:
            problems.append(f"{what} axis {axis} is {got} in the graph, declared {want}")
        elif fixed and isinstance(want, str):
            problems.append(f"{what} axis {axis} is fixed at {got} in the graph, declared {want!r}")
    return problems


def graph_mismatches(
    declared: GraphSignature, inputs: Sequence[Any], outputs: Sequence[Any]
) -> list[str]:
    """How a graph with ``inputs`` and ``outputs`` (tensors as :func:`tensor_mismatches` reads
    them) fails ``declared``: its inputs must be the declared ones (backends feed them by name),
    it must give every declared output, and each of those must fit its declaration."""
    have_in = {t.name: t for t in inputs}
    have_out = {t.name: t for t in outputs}
    if set(have_in) != set(declared.input_names):
        return [f"the graph takes inputs {sorted(have_in)}, declared {declared.input_names}"]
    absent = [n for n in declared.output_names if n not in have_out]
    if absent:
        return [f"the graph gives no output {', '.join(map(repr, absent))} (it gives "
                f"{sorted(have_out)})"]  # fmt: skip
    problems = []
    for spec in declared.inputs:
        problems += tensor_mismatches(have_in[spec.name], spec, "input")
    for spec in declared.outputs:
        problems += tensor_mismatches(have_out[spec.name], spec, "output")
    return problems


def check_graph(declared: GraphSignature, inputs: Any, outputs: Any, where: str) -> None:
    """Raise a :class:`SignatureError` naming ``where`` (the graph's file) unless the graph's
    ``inputs`` and ``outputs`` fit ``declared``."""
    problems = graph_mismatches(declared, inputs, outputs)
    if problems:
        raise SignatureError(
            f"{where}: the graph is not what the voice's manifest declares: {'; '.join(problems)}"
        )


@attrs.frozen
class StageForm:
    """What a voice stage may declare: the form of each input it may take (the engine feeds
    those alone) and of each output whose form is known, and which of them it must have."""

    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
    required: tuple[str, ...]


def stage_form(stage: str, n_mels: int, n_fft: int) -> StageForm:
    """The :class:`StageForm` of ``acoustic``, ``converter`` or ``vocoder`` for a voice with
    ``n_mels`` mel bands and an ``n_fft`` STFT (the audio settings of its manifest)."""
    mel = TensorSpec("mel", "float32", ("batch", n_mels, "frames"))
    per_item = ("batch",)
    if stage == "acoustic":
        full = acoustic_signature(n_mels)
        required = ("tokens", "token_lengths", "speakers", "pace", "mel", "mel_lengths")
        return StageForm(_by_name(full.inputs), _by_name(full.outputs), required)
    if stage == "converter":
        inputs = (mel, TensorSpec("mel_lengths", "int64", per_item),
                  TensorSpec("speakers", "int64", per_item))  # fmt: skip
        converted = TensorSpec("converted", "float32", mel.shape)
        names = ("mel", "mel_lengths", "speakers", "converted")
        return StageForm(_by_name(inputs), _by_name((converted,)), names)
    spectra = (
        *magnitude_signature(n_mels, n_fft).outputs,
        *spectrum_signature(n_mels, n_fft).outputs,
    )
    outputs = (*vocoder_signature(n_mels).outputs, *spectra)
    return StageForm(_by_name((mel,)), _by_name(outputs), ("mel",))


def _by_name(tensors: Sequence[TensorSpec]) -> dict[str, TensorSpec]:
    return {t.name: t for t in tensors}


def declared_problems(
    stage: str, signature: GraphSignature, *, n_mels: int, n_fft: int, path: str
) -> list[str]:
    """How the signature a manifest declares for ``stage`` fails its :func:`stage_form` for
    the voice's audio settings, each problem with its field's path."""
    form = stage_form(stage, n_mels, n_fft)
    settings = f"audio.n_mels = {n_mels}, audio.n_fft = {n_fft}"
    problems = []
    declared = set(signature.input_names) | set(signature.output_names)
    missing = [name for name in form.required if name not in declared]
    if missing:
        problems.append(f"{path}: the {stage} stage has no {', '.join(map(repr, missing))}")
    for side, allowed in (("inputs", form.inputs), ("outputs", form.outputs)):
        for index, tensor in enumerate(getattr(signature, side)):
            want = allowed.get(tensor.name)
            at = f"{path}.{side}[{index}]"
            if want is None and side == "inputs":
                known = ", ".join(allowed)
                problems.append(f"{at}.name: the {stage} stage takes no {tensor.name!r} ({known})")
            elif want is not None and tensor.dtype != want.dtype:
                problems.append(
                    f"{at}.dtype: {tensor.name!r} must be {want.dtype}, not {tensor.dtype}"
                )
            elif want is not None and tensor.shape != want.shape:
                problems.append(
                    f"{at}.shape: {tensor.name!r} must be {list(want.shape)} with {settings}, "
                    f"declared {list(tensor.shape)}"
                )
    return problems


# -- checking what a graph is fed ----------------------------------------------------------------


TensorT = TypeVar("TensorT")


class DescribedSession(Generic[TensorT]):
    """The base of a backend session that describes its tensors, which the stage runner holds
    to the stage's signature (:func:`check_graph`): :attr:`inputs` and :attr:`outputs` as the
    runtime described them when the session opened (the subclass sets ``_inputs`` and
    ``_outputs``), read-only."""

    _inputs: tuple[TensorT, ...]
    _outputs: tuple[TensorT, ...]

    @property
    def inputs(self) -> tuple[TensorT, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorT, ...]:
        return self._outputs


def describe_tensor(tensor: Any) -> str:
    """``name (dtype [dims])``, a dynamic size without a name as ``?``; ``name (dtype)`` when
    the rank is unknown (``shape`` None)."""
    if tensor.shape is None:
        return f"{tensor.name} ({tensor.dtype})"
    dims = ", ".join("?" if d is None else str(d) for d in tensor.shape)
    return f"{tensor.name} ({tensor.dtype} [{dims}])"


def check_inputs(
    expected: Sequence[Any],
    inputs: Any,
    where: str,
    *,
    holder: str = "the model",
    error: type[AutovoiceError] = BackendError,
) -> dict[str, np.ndarray]:
    """``inputs`` as the C-contiguous arrays to feed a graph whose inputs are ``expected``
    (each with a ``name``, a numpy ``dtype`` name and a ``shape`` of fixed sizes, axis names or
    None, or None when its rank is unknown), in ``expected``'s order. A missing or unexpected
    name, a value that is not an array, or a wrong dtype, rank or fixed size raises ``error``
    naming ``where``, the input and what ``holder`` expects."""
    if not isinstance(inputs, Mapping):
        kind = type(inputs).__name__
        raise error(f"{where}: inputs must map names to numpy arrays, got {kind}")
    names = [tensor.name for tensor in expected]
    missing = [name for name in names if name not in inputs]
    extra = [name for name in inputs if name not in names]
    if missing or extra:
        what = (
            f"missing input {_quoted(missing)}" if missing else f"unexpected input {_quoted(extra)}"
        )
        wants = ", ".join(describe_tensor(tensor) for tensor in expected)
        raise error(f"{where}: {what}; {holder} expects {wants}")
    return {t.name: _checked(t, inputs[t.name], where, holder, error) for t in expected}


def _quoted(names: Sequence[Any]) -> str:
    return ", ".join(repr(str(name)) for name in names)


def _checked(
    tensor: Any, value: Any, where: str, holder: str, error: type[AutovoiceError]
) -> np.ndarray:
    name = tensor.name
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise error(f"{where}: input {name!r} must be a numpy array, got {type(value).__name__}")
    if not _dtype_fits(tensor.dtype, value.dtype):
        raise error(
            f"{where}: input {name!r} is {value.dtype} {list(value.shape)}; {holder} expects "
            f"dtype {tensor.dtype}, not dtype {value.dtype}"
        )
    shape = tensor.shape
    if shape is not None and value.ndim != len(shape):
        raise error(
            f"{where}: input {name!r} has {value.ndim} dimensions {list(value.shape)}; "
            f"{holder} expects {len(shape)}: {describe_tensor(tensor)}"
        )
    for axis, (want, got) in enumerate(zip(shape or (), value.shape, strict=False)):
        if isinstance(want, int) and not isinstance(want, bool) and want != got:
            raise error(
                f"{where}: input {name!r} has size {got} on axis {axis}; "
                f"{holder} expects {want}: {describe_tensor(tensor)}"
            )
    return np.require(value, requirements="C")  # C-contiguous, a scalar kept 0-d


def _dtype_fits(expected: str, got: np.dtype[Any]) -> bool:
    """Whether an array of dtype ``got`` may feed a tensor of ``expected`` (a numpy dtype name;
    ``object`` takes strings; a type numpy lacks, such as bfloat16, is left to the runtime)."""
    if expected == "object":
        return got.kind in "OUS"
    try:
        return bool(got == np.dtype(expected))
    except TypeError:
        return True
