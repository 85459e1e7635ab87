"""The Griffin-Lim vocoder stage: mel to waveform in numpy, with no graph, weights or backend.

A voice bundle whose vocoder plugin is ``griffin_lim`` runs its vocoder stage here, and so does
any voice when the engine is asked for ``vocoder="griffin-lim"``. The stage keeps the contract
of every vocoder stage, ``run({"mel": (batch, n_mels, frames)}) -> {"audio": (batch, frames *
hop_length)}``, and imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from autovoice.audio.features import mel_params
from autovoice.audio.griffin_lim import GriffinLimOptions, griffin_lim, griffin_lim_magnitude
from autovoice.bundle import GRIFFIN_LIM
from autovoice.config.convert import structure
from autovoice.config.schema import AudioConfig
from autovoice.errors import AutovoiceError
from autovoice.inference.checks import InferenceError
from autovoice.inference.stages import StageContext, StageRunner
from autovoice.signature import MAGNITUDE, vocoder_signature

__all__ = [
    "BACKEND",
    "VOCODER_CHOICES",
    "GriffinLimSession",
    "MagnitudeGriffinLimSession",
    "check_vocoder_choice",
    "griffin_lim_options",
    "open_griffin_lim",
    "with_griffin_lim",
]

BACKEND = "griffin-lim"
"""The name the engine reports as the vocoder stage's backend (numpy, on the CPU)."""
VOCODER_CHOICES = ("bundle", "griffin-lim")
"""What ``VoiceInferenceEngine(vocoder=...)`` takes: the bundle's own vocoder, or Griffin-Lim."""
GL_FIELDS = ("iterations", "momentum", "seed")
"""The Griffin-Lim settings a magnitude vocoder's plugin options carry."""


class GriffinLimSession:
    """A session as backends make them: ``run`` maps a mel batch to audio. Each call starts
    from the same seeded phases, so equal mels give equal audio."""

    def __init__(self, audio: AudioConfig, options: GriffinLimOptions) -> None:
        self.params = mel_params(audio)
        self.options = options

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        mel = inputs.get("mel")
        if mel is None:
            raise InferenceError(f"vocoder stage ({BACKEND}): no 'mel' input, got {sorted(inputs)}")
        if np.ndim(mel) != 3:
            raise InferenceError(
                f"vocoder stage ({BACKEND}): 'mel' must be (batch, n_mels, frames), "
                f"got shape {np.shape(mel)}"
            )
        audio = griffin_lim(
            mel,
            **self.params,
            iterations=self.options.iterations,
            momentum=self.options.momentum,
            rng=np.random.default_rng(self.options.seed),
        )
        return {"audio": audio}


class MagnitudeGriffinLimSession:
    """A magnitude vocoder's graph, loaded on a backend, followed by Griffin-Lim: ``run`` maps a
    mel batch to the graph's linear magnitude, then to audio (seeded, as
    :class:`GriffinLimSession`)."""

    def __init__(self, graph: StageRunner, audio: AudioConfig, options: GriffinLimOptions) -> None:
        self.graph = graph
        self.audio = audio
        self.options = options

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        magnitude = self.graph.run(inputs)[MAGNITUDE]
        audio = griffin_lim_magnitude(
            np.maximum(np.asarray(magnitude, dtype=np.float32), 0.0),
            n_fft=self.audio.n_fft,
            hop_length=self.audio.hop_length,
            win_length=self.audio.win_length,
            iterations=self.options.iterations,
            momentum=self.options.momentum,
            rng=np.random.default_rng(self.options.seed),
        )
        return {"audio": audio}


def with_griffin_lim(
    graph: StageRunner, audio: AudioConfig, options: GriffinLimOptions
) -> StageRunner:
    """The vocoder stage of a magnitude vocoder: its graph on the backend ``graph`` was loaded
    on, then Griffin-Lim in numpy; the backend is reported as ``<backend>+griffin-lim``."""
    context = attrs.evolve(graph.context, signature=vocoder_signature(audio.n_mels))
    return StageRunner(
        context,
        MagnitudeGriffinLimSession(graph, audio, options),
        backend=f"{graph.backend}+{BACKEND}",
        artifact=graph.artifact,
        device=graph.device,
        skipped=graph.skipped,
    )


def check_vocoder_choice(vocoder: Any) -> str:
    """``vocoder`` when it is one of :data:`VOCODER_CHOICES`, else an :class:`InferenceError`."""
    if vocoder not in VOCODER_CHOICES:
        choices = ", ".join(repr(c) for c in VOCODER_CHOICES)
        raise InferenceError(f"vocoder must be one of {choices}, got {vocoder!r}")
    return str(vocoder)


def griffin_lim_options(
    plugin: str, options: Mapping[str, Any], *, magnitude: bool = False
) -> GriffinLimOptions:
    """The bundle's Griffin-Lim options when its vocoder is Griffin-Lim; for a magnitude vocoder
    (``magnitude``), the ``iterations``, ``momentum`` and ``seed`` among its plugin options;
    else the defaults (the options of a waveform vocoder mean nothing to Griffin-Lim)."""
    if magnitude:
        options = {k: options[k] for k in GL_FIELDS if k in options}
    elif plugin != GRIFFIN_LIM:
        return GriffinLimOptions()
    try:
        return structure(dict(options), GriffinLimOptions, path="$.vocoder.options")
    except AutovoiceError as exc:
        raise InferenceError(str(exc)) from None


def open_griffin_lim(
    audio: AudioConfig, options: GriffinLimOptions, *, skipped: tuple[str, ...] = ()
) -> StageRunner:
    """The vocoder stage as Griffin-Lim on ``audio``'s mel settings."""
    context = StageContext(
        name="vocoder",
        plugin=GRIFFIN_LIM,
        options={"iterations": options.iterations, "momentum": options.momentum},
        signature=vocoder_signature(audio.n_mels),
        audio=audio,
    )
    session = GriffinLimSession(audio, options)
    return StageRunner(
        context, session, backend=BACKEND, artifact="numpy", device="cpu", skipped=skipped
    )
