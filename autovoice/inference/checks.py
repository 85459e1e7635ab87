"""Checks of what callers pass to the engine; each failure names the argument (pure)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict

import numpy as np

from autovoice.errors import AutovoiceError, BackendError

__all__ = [
    "CONTROL_RANGES",
    "PACE_RANGE",
    "InferenceError",
    "SpeechControls",
    "artifact_file",
    "batch_size",
    "control",
    "controls",
    "pace",
    "speaker",
    "text",
    "texts",
    "threads",
    "usable_cpus",
]

PACE_RANGE = (0.25, 4.0)
CONTROL_RANGES = {"pace": PACE_RANGE, "pitch_shift": (-12.0, 12.0), "energy_scale": (0.25, 4.0)}
"""The range of each speech control: pace (speaking rate), pitch shift (semitones) and energy
scale (a factor on the predicted loudness)."""


class SpeechControls(TypedDict, total=False):
    """The keyword-only controls of every synthesis call, each within :data:`CONTROL_RANGES`
    (unset: 0 semitones of pitch shift, an energy scale of 1)."""

    pitch_shift: float
    energy_scale: float


class InferenceError(AutovoiceError):
    """Input the engine cannot synthesize (empty or too long text, unknown speaker, bad pace) or
    a voice it cannot open; the message names the argument."""


def text(value: object, max_chars: int, where: str = "text") -> str:
    """``value`` when it is a non-blank string of at most ``max_chars`` characters."""
    if not isinstance(value, str):
        raise InferenceError(f"{where}: expected text (a str), got {type(value).__name__}")
    if not value.strip():
        raise InferenceError(f"{where}: the text is empty")
    if len(value) > max_chars:
        raise InferenceError(
            f"{where}: the text has {len(value)} characters, more than the limit of "
            f"{max_chars}; split it, or raise the limit: --max-chars N on the command line, "
            "VoiceInferenceEngine(..., max_chars=N) in Python"
        )
    return value


def texts(values: object, max_chars: int) -> list[str]:
    """``values`` when it is a non-empty sequence of texts, each checked by :func:`text`."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise InferenceError("texts must be a non-empty list of strings")
    if len(values) == 1:
        return [text(values[0], max_chars)]
    return [text(value, max_chars, f"texts[{i}]") for i, value in enumerate(values)]


def speaker(value: object, speakers: Sequence[str], where: str = "speaker_id") -> int:
    """``value`` as a speaker id of a voice with ``speakers`` (one unnamed speaker when empty);
    errors name the argument ``where``."""
    count = max(len(speakers), 1)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InferenceError(f"{where} must be an integer, got {value!r}")
    if not 0 <= value < count:
        names = f" ({', '.join(speakers)})" if speakers else ""
        raise InferenceError(
            f"unknown {where} {value}: this voice has speakers 0 to {count - 1}{names}"
        )
    return int(value)


def control(value: object, name: str) -> float:
    """``value`` as the speech control ``name`` within its range in :data:`CONTROL_RANGES`."""
    low, high = CONTROL_RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InferenceError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise InferenceError(f"{name} must be between {low} and {high}, got {value}")
    return float(value)


def controls(given: Mapping[str, object], defaults: Mapping[str, float]) -> dict[str, float]:
    """Every control of ``defaults``, from ``given`` where it is set, each checked by
    :func:`control`; a name that is not a control is a :class:`TypeError`, as Python raises for
    an unknown keyword argument."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise TypeError(
            f"unexpected keyword argument {unknown[0]!r}; the speech controls are "
            + ", ".join(defaults)
        )
    return {name: control(given.get(name, default), name) for name, default in defaults.items()}


def pace(value: object) -> float:
    """``value`` as a speaking rate within :data:`PACE_RANGE`."""
    return control(value, "pace")


def usable_cpus() -> int:
    """The CPUs this process may run on: ``os.process_cpu_count()`` (Python 3.13), else the
    size of its affinity mask, else ``os.cpu_count()`` (at least 1). Read from the machine,
    each call."""
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        return max(int(counter() or 1), 1)
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


def threads(value: object, where: str = "threads") -> int:
    """``value`` as a thread count: 0 (the backend decides) up to :func:`usable_cpus`; more
    threads than CPUs only contend (and a huge count exhausts memory), so it is refused, the
    error naming ``where`` (the argument, option or field) and the limit."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InferenceError(f"{where}: expected a whole number of threads >= 0, got {value!r}")
    cpus = usable_cpus()
    if value > cpus:
        raise InferenceError(
            f"{where}: {value} threads, more than the {cpus} CPUs this process may use; give at "
            f"most {cpus} (0 lets the backend decide)"
        )
    return int(value)


def artifact_file(artifact: str | os.PathLike[str], *, backend: str, what: str, loads: str) -> Path:
    """``artifact`` (the path a backend is asked to load) as an existing file, else a
    :class:`BackendError` naming it: ``what`` names the missing file (``"ONNX model"``),
    ``loads`` what the ``backend`` loads (``"an .onnx model"``)."""
    try:
        path = Path(os.fspath(artifact))
    except TypeError:
        why = f"{backend} backend: give the path of {loads}, got {artifact!r}"
        raise BackendError(why) from None
    if not path.exists():
        raise BackendError(f"{path}: no such {what} file")
    if not path.is_file():
        raise BackendError(f"{path}: is not a file; give the path of {loads}")
    return path


def batch_size(value: object) -> int:
    """``value`` as a batch size (an integer >= 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InferenceError(f"batch_size must be an integer >= 1, got {value!r}")
    return int(value)
