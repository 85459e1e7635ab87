"""Vocoder heads: what makes a waveform of a vocoder graph's output (numpy only, torch-free).

A vocoder's graph ends in a waveform, a linear magnitude or a complex spectrum; its *head* turns
that into audio. The vocoder spec declares its default head (``VocoderSpec.head``), a training
recipe may name another (``Recipe.head``) with its options, and export writes both into the
bundle's vocoder stage (``head``, ``head_options``). The engine opens the graph on a backend and
wraps it in the head once; nothing else in the core knows one vocoder from another.

- ``waveform`` reads ``audio`` ``(batch, samples)`` and passes it on as is;
- ``griffin_lim`` reads ``magnitude`` ``(batch, bins, frames)`` and finds a phase by fast
  Griffin-Lim (options ``iterations``, ``momentum``, ``seed``);
- ``istft`` reads ``real`` and ``imag`` ``(batch, bins, frames)``, the parts of a complex
  spectrum, and runs one inverse STFT (:func:`autovoice.audio.stft.inverse_stft`), or first
  Griffin-Lim projections from the spectrum's own phase, over the whole band or below a
  fraction of it (options ``projections``, ``projection_momentum``,
  ``projection_decimation``);
- ``mel_griffin_lim`` has no graph: it reads the stage's ``mel`` and runs Griffin-Lim from the
  filterbank's pseudo-inverse (options as ``griffin_lim``).

``bins`` is ``n_fft // 2 + 1``. A head with no graph is a whole vocoder by itself: its bundle
stage holds no files, and ``VoiceInferenceEngine(vocoder=...)`` can choose it for any voice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from autovoice.audio.griffin_lim import (
    MOMENTUM,
    GriffinLimOptions,
    decimated_window,
    griffin_lim,
    griffin_lim_magnitude,
    griffin_lim_spectrum,
)
from autovoice.audio.stft import inverse_stft
from autovoice.config.fields import ge, setting
from autovoice.config.schema import AudioConfig
from autovoice.config.structure import structure, unstructure
from autovoice.errors import AutovoiceError, unknown_name_message
from autovoice.signature import AUDIO, IMAG, MAGNITUDE, REAL

__all__ = [
    "GRAPHLESS_INPUT",
    "HEADS",
    "MEL_GRIFFIN_LIM",
    "WAVEFORM",
    "BoundHead",
    "Head",
    "HeadError",
    "IstftHeadOptions",
    "get_head",
    "graphless_heads",
]

Floats = npt.NDArray[np.float32]
Views = Callable[[Mapping[str, np.ndarray], AudioConfig], dict[str, np.ndarray]]
"""``(graph outputs, audio) -> {name: array}``: what export validation compares of a graph's
outputs (:attr:`Head.compared_as`)."""
Run = Callable[[Mapping[str, np.ndarray], AudioConfig, Any, int], Floats]
"""``(values, audio, options) -> (batch, samples)``: the values are the graph's outputs (the
stage's inputs for a head with no graph), ``options`` an instance of the head's options type."""
WAVEFORM = "waveform"
"""The head of a vocoder whose graph outputs the waveform (the default of ``VocoderSpec``)."""
MEL_GRIFFIN_LIM = "mel_griffin_lim"
"""The head that is a whole vocoder: Griffin-Lim from the mel, with no graph."""
GRAPHLESS_INPUT = "mel"
"""What a head with no graph reads: the vocoder stage's own input."""


class HeadError(AutovoiceError):
    """An unknown head, options a head does not take, or values it cannot make audio of."""


def _batched(values: Mapping[str, np.ndarray], name: str, shape: str) -> np.ndarray:
    """``values[name]`` when it has the rank of ``shape`` (``"(batch, samples)"``)."""
    value = np.asarray(values[name])
    rank = shape.count(",") + 1
    if value.ndim != rank:
        raise HeadError(f"{name!r} must be {shape}, got shape {value.shape}")
    return value


def _waveform(
    values: Mapping[str, np.ndarray], audio: AudioConfig, options: Any, workers: int
) -> Floats:
    return _batched(values, AUDIO, "(batch, samples)").astype(np.float32, copy=False)


def _griffin_lim(
    values: Mapping[str, np.ndarray], audio: AudioConfig, options: Any, workers: int
) -> Floats:
    magnitude = _batched(values, MAGNITUDE, "(batch, n_fft // 2 + 1, frames)")
    return griffin_lim_magnitude(
        np.maximum(magnitude.astype(np.float32, copy=False), 0.0),
        n_fft=audio.n_fft,
        hop_length=audio.hop_length,
        win_length=audio.win_length,
        iterations=options.iterations,
        momentum=options.momentum,
        rng=np.random.default_rng(options.seed),
        init=options.init,
        workers=workers,
    )


@attrs.frozen(kw_only=True)
class IstftHeadOptions:
    """The options of the ``istft`` head (a bundle's ``$.vocoder.head_options``)."""

    projections: int = setting(
        0,
        doc="Griffin-Lim projections after the inverse STFT, started from the spectrum's own "
        "phase (its magnitude kept); 0: the inverse STFT alone. The istft vocoder's options "
        "of the same names set them.",
        checks=[ge(0)],
    )
    projection_momentum: float = setting(
        0.0,
        doc="Momentum of the projections, as fast Griffin-Lim's (0: plain projections).",
        checks=[MOMENTUM],
    )
    projection_decimation: int = setting(
        1,
        doc="The projections run on the band below sample_rate / (2 * D) alone, as the STFT "
        "of that band at 1 / D of the sample rate (about 1 / D of the work); the phase they "
        "find replaces the spectrum's own below 75% of that band's top, blended into it up to "
        "85%, and the spectrum's phase is kept above. D must divide the voice's framing "
        "(n_fft, hop_length, win_length and the padding); 1: the whole band.",
        checks=[ge(1)],
    )


def _spectrum_views(values: Mapping[str, np.ndarray], audio: AudioConfig) -> dict[str, np.ndarray]:
    """The waveform of one inverse STFT of a spectrum's parts, and its magnitude."""
    shape = "(batch, n_fft // 2 + 1, frames)"
    real, imag = _batched(values, REAL, shape), _batched(values, IMAG, shape)
    return {
        AUDIO: inverse_stft(
            real, imag, n_fft=audio.n_fft, hop_length=audio.hop_length, win_length=audio.win_length
        ),
        MAGNITUDE: np.hypot(real.astype(np.float64), imag.astype(np.float64)),
    }


def _istft(
    values: Mapping[str, np.ndarray], audio: AudioConfig, options: Any, workers: int
) -> Floats:
    shape = "(batch, n_fft // 2 + 1, frames)"
    real, imag = _batched(values, REAL, shape), _batched(values, IMAG, shape)
    settings = {
        "n_fft": audio.n_fft,
        "hop_length": audio.hop_length,
        "win_length": audio.win_length,
    }
    if options is not None and options.projections:
        return griffin_lim_spectrum(
            real,
            imag,
            iterations=options.projections,
            momentum=options.projection_momentum,
            decimation=options.projection_decimation,
            workers=workers,
            **settings,
        )
    return inverse_stft(real, imag, **settings)


def _istft_fits(options: Any, audio: AudioConfig) -> None:
    if options is None or options.projection_decimation == 1:
        return
    try:
        decimated_window(
            options.projection_decimation,
            n_fft=audio.n_fft,
            hop_length=audio.hop_length,
            win_length=audio.win_length,
        )
    except AutovoiceError as exc:
        raise HeadError(f"projection_decimation: {str(exc).removeprefix('decimation: ')}") from None


def _mel_griffin_lim(
    values: Mapping[str, np.ndarray], audio: AudioConfig, options: Any, workers: int
) -> Floats:
    return griffin_lim(
        _batched(values, GRAPHLESS_INPUT, "(batch, n_mels, frames)"),
        audio,
        iterations=options.iterations,
        momentum=options.momentum,
        rng=np.random.default_rng(options.seed),
        init=options.init,
        workers=workers,
    )


@attrs.frozen(kw_only=True)
class Head:
    """One way from a vocoder graph's output to a waveform."""

    name: str
    description: str
    reads: tuple[str, ...]
    """The graph outputs it reads; for a head with no graph, the stage input it reads."""
    run: Run = attrs.field(eq=False, repr=False)
    options_type: type | None = None
    """An attrs class of its options (``head_options``); None: it takes none."""
    graph: bool = True
    """Whether a graph runs before it; False: the head is the whole vocoder, fed the mel."""
    label: str = ""
    """What the stage's backend is reported as: ``<graph backend>+<label>``, the label alone
    with no graph; empty: the graph backend's name."""
    plugin: str = ""
    """For a head with no graph: the vocoder plugin name its bundle stage records."""
    log_compared: tuple[str, ...] = ()
    """Graph outputs (or :attr:`compared_as` views) that export validation compares as logs
    (their values span decades)."""
    peak_compared: tuple[str, ...] = ()
    """Graph outputs (or views) that export validation compares relative to their peak."""
    compared_as: Views | None = attrs.field(default=None, eq=False, repr=False)
    """What export validation compares in place of the graph's outputs: named views of them,
    ``(values, audio) -> {name: array}``; None: the outputs themselves. A spectrum's direction
    is ill-conditioned where its parts are near zero, so the ``istft`` head has its waveform
    (one inverse STFT) and its magnitude compared, which is all that it uses of them."""
    per_item: bool = False
    """Whether the engine runs this head (and its graph) item by item on each item's own
    frames, several items at a time (see :class:`autovoice.inference.head_stage.HeadSession`):
    for heads whose work is per item and outweighs the graph (Griffin-Lim)."""
    per_item_with: Callable[[Any], bool] | None = attrs.field(default=None, eq=False, repr=False)
    """For a head that iterates only with some options: whether its options make it per item
    (the ``istft`` head with projections)."""
    fits: Callable[[Any, AudioConfig], None] | None = attrs.field(
        default=None, eq=False, repr=False
    )
    """For a head whose options must suit the voice's audio settings: ``(options, audio)``,
    a :class:`HeadError` naming the option that does not (the ``istft`` head's
    ``projection_decimation`` must divide the framing)."""

    def missing(self, outputs: list[str]) -> list[str]:
        """The outputs it reads that ``outputs`` (a graph's output names) lacks."""
        return [name for name in self.reads if name not in outputs] if self.graph else []

    def bind(self, table: Mapping[str, Any], *, path: str) -> BoundHead:
        """This head with the options of ``table``; a :class:`HeadError` naming ``path``
        (``$.vocoder.head_options``) and the field for options it does not take."""
        if not isinstance(table, Mapping):
            raise HeadError(f"{path}: expected a table of options, got {table!r:.60}")
        if self.options_type is None:
            if table:
                raise HeadError(f"{path}: head {self.name!r} takes no options, got {sorted(table)}")
            return BoundHead(head=self, options=None)
        try:
            options: Any = structure(dict(table), self.options_type, path=path)
        except AutovoiceError as exc:
            raise HeadError(str(exc)) from None
        return BoundHead(head=self, options=options)


@attrs.frozen(kw_only=True)
class BoundHead:
    """A head and its checked options: what a vocoder stage runs after its graph."""

    head: Head
    options: Any

    @property
    def per_item(self) -> bool:
        """Whether the engine runs it item by item (:attr:`Head.per_item`, or what its options
        make of :attr:`Head.per_item_with`)."""
        with_options = self.head.per_item_with
        return self.head.per_item or (with_options is not None and with_options(self.options))

    def check(self, audio: AudioConfig, *, path: str) -> None:
        """A :class:`HeadError` naming ``path`` (``$.vocoder.head_options``) when the options do
        not suit a voice of ``audio``'s settings (:attr:`Head.fits`)."""
        if self.head.fits is None:
            return
        try:
            self.head.fits(self.options, audio)
        except HeadError as exc:
            raise HeadError(f"{path}.{exc}") from None

    @property
    def table(self) -> dict[str, Any]:
        """The options as a manifest writes them (every field, defaults included)."""
        return {} if self.options is None else dict(unstructure(self.options))

    def synthesise(
        self, values: Mapping[str, np.ndarray], audio: AudioConfig, *, workers: int = 1
    ) -> Floats:
        """``(batch, samples)`` float32 audio of the graph's outputs ``values`` (of the stage's
        inputs, for a head with no graph); a :class:`HeadError` for values it cannot use.
        Griffin-Lim may split its frames between up to ``workers`` threads, with the same
        result (:mod:`autovoice.audio.projections`)."""
        absent = [name for name in self.head.reads if name not in values]
        if absent:
            names = ", ".join(repr(n) for n in absent)
            raise HeadError(f"no {names} input, got {sorted(values)}")
        try:
            return self.head.run(values, audio, self.options, max(int(workers), 1))
        except AutovoiceError as exc:
            if isinstance(exc, HeadError):
                raise
            raise HeadError(str(exc)) from None


HEADS: Mapping[str, Head] = {
    head.name: head
    for head in (
        Head(
            name=WAVEFORM,
            description="The graph outputs the waveform: audio as is.",
            reads=(AUDIO,),
            run=_waveform,
        ),
        Head(
            name="griffin_lim",
            description="The graph outputs a linear magnitude; fast Griffin-Lim finds a phase.",
            reads=(MAGNITUDE,),
            run=_griffin_lim,
            options_type=GriffinLimOptions,
            label="griffin_lim",
            log_compared=(MAGNITUDE,),
            per_item=True,
        ),
        Head(
            name="istft",
            description="The graph outputs a complex spectrum (real, imag); one inverse STFT.",
            reads=(REAL, IMAG),
            run=_istft,
            options_type=IstftHeadOptions,
            per_item_with=lambda options: options.projections > 0,
            fits=_istft_fits,
            label="istft",
            log_compared=(MAGNITUDE,),
            peak_compared=(AUDIO,),
            compared_as=_spectrum_views,
        ),
        Head(
            name=MEL_GRIFFIN_LIM,
            description="No graph: Griffin-Lim from the mel (its filterbank's pseudo-inverse).",
            reads=(GRAPHLESS_INPUT,),
            run=_mel_griffin_lim,
            options_type=GriffinLimOptions,
            graph=False,
            label="griffin_lim",
            plugin="griffin_lim",
            per_item=True,
        ),
    )
}
"""Every head, by name."""


def get_head(name: Any, *, path: str = "head") -> Head:
    """The head called ``name``, or a :class:`HeadError` naming ``path`` and the heads there
    are (with the closest name)."""
    if not isinstance(name, str):
        raise HeadError(f"{path}: expected a head name, got {name!r:.60}")
    if name not in HEADS:
        raise HeadError(f"{path}: {unknown_name_message('head', name, tuple(HEADS))}")
    return HEADS[name]


def graphless_heads() -> tuple[Head, ...]:
    """The heads that are whole vocoders (no graph), in registry order."""
    return tuple(head for head in HEADS.values() if not head.graph)
