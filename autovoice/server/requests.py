"""A speech request's JSON body, checked field by field (pure): every fault is a
:class:`RequestError` that names the field, answered as OpenAI answers, ``{"error": {...}}``.

The fields are OpenAI's (``model``, ``voice``, ``input``, ``response_format``, ``speed``;
``instructions`` is taken and ignored: a voice has no instructions to follow;
``stream_format``), and autovoice's own: the speech controls (:data:`CONTROLS`) and
``timestamps``, which OpenAI's client sends through ``extra_body``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from autovoice.inference.checks import CONTROL_RANGES, PACE_RANGE
from autovoice.inference.engine import CONTROL_DEFAULTS
from autovoice.server.formats import FORMATS
from autovoice.server.voices import ServedVoice, VoiceTable

__all__ = ["CONTROLS", "RequestError", "SpeechJob", "parse_json", "speech_job"]

SPEED_RANGE = PACE_RANGE
"""OpenAI's range of ``speed`` (0.25 to 4.0) is the engine's ``pace``: above 1 is faster."""
CONTROLS = ("pitch_shift", "energy_scale")
"""autovoice's speech controls beyond ``speed``, in the engine's ranges
(:data:`autovoice.inference.checks.CONTROL_RANGES`): ``pitch_shift`` in semitones,
``energy_scale`` a factor on the predicted loudness."""
STREAM_FORMATS = ("audio", "sse")
"""``stream_format``: the audio's bytes themselves, or OpenAI's server-sent events (each
``speech.audio.delta`` a base64 piece of audio; with ``timestamps``, its words and phonemes)."""
FIELDS = frozenset(
    {"model", "voice", "input", "response_format", "speed", "instructions", "stream_format"}
    | {"timestamps", *CONTROLS}
)


class RequestError(Exception):
    """A request the server refuses: its HTTP status, the field at fault and a message."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        status: int = 400,
        kind: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status
        self.kind = kind
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI's clients read the error from."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param}}


@attrs.frozen(kw_only=True)
class SpeechJob:
    """What to synthesize, checked: the voice, text, speaker id, pace, format and controls
    (only those the request set)."""

    voice: ServedVoice = attrs.field(eq=False)
    text: str
    speaker: int
    pace: float
    format: str
    controls: Mapping[str, float] = attrs.field(factory=dict)
    events: bool = False
    """Whether the audio goes as server-sent events (``stream_format: "sse"``)."""
    timestamps: bool = False


def parse_json(body: bytes) -> dict[str, Any]:
    """``body`` as a JSON object."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"body: not valid JSON ({exc})", param="body") from None
    if not isinstance(value, dict):
        raise RequestError("body: expected a JSON object", param="body")
    return value


def _text(body: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"{name}: expected a non-empty string, got {value!r}", param=name)
    return value


def _number(body: Mapping[str, Any], name: str, low: float, high: float, neutral: float) -> float:
    value = body.get(name, neutral)
    if value is None:
        return neutral
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(f"{name}: expected a number, got {value!r}", param=name)
    if not low <= value <= high:
        raise RequestError(f"{name}: must be between {low} and {high}, got {value}", param=name)
    return float(value)


def _voice(table: VoiceTable, model: str) -> ServedVoice:
    voice = table.find(model)
    if voice is None:
        served = ", ".join(table.voices)
        raise RequestError(
            f"model: no voice named {model!r}; voices served: {served}",
            param="model",
            status=404,
            kind="not_found_error",
        )
    return voice


def _speaker(voice: ServedVoice, name: str | None) -> int:
    """The speaker ``name`` (a speaker's name or its id) of ``voice``; the first when None."""
    speakers = voice.speakers
    if name is None:
        return 0
    if name in speakers:
        return speakers.index(name)
    if name.isdigit() and int(name) < len(speakers):
        return int(name)
    listed = ", ".join(f"{i}: {s}" for i, s in enumerate(speakers))
    raise RequestError(
        f"voice: voice {voice.name!r} has no speaker {name!r}; its speakers: {listed}",
        param="voice",
    )


def _choice(body: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value is None:
        return default
    if value not in choices:
        raise RequestError(
            f"{name}: expected one of {', '.join(choices)}, got {value!r}", param=name
        )
    return str(value)


def _events(body: Mapping[str, Any], format: str) -> tuple[bool, bool]:
    """(events, timestamps) as ``stream_format`` and ``timestamps`` ask."""
    events = _choice(body, "stream_format", STREAM_FORMATS, "audio") == "sse"
    timestamps = body.get("timestamps", False)
    if not isinstance(timestamps, bool):
        raise RequestError(
            f"timestamps: expected true or false, got {timestamps!r}", param="timestamps"
        )
    if events and not FORMATS[format].streams:
        streaming = ", ".join(name for name, f in FORMATS.items() if f.streams)
        raise RequestError(
            f"stream_format: 'sse' carries only streamed formats ({streaming}), not {format!r}",
            param="stream_format",
        )
    if timestamps and not events:
        raise RequestError(
            "timestamps: they come with the audio as events: give stream_format 'sse'",
            param="timestamps",
        )
    return events, timestamps


def _format(body: Mapping[str, Any], available: tuple[str, ...], default: str) -> str:
    value = body.get("response_format", default)
    if value is None:
        return default
    if not isinstance(value, str) or value not in available:
        why = "" if value not in FORMATS else " (this installation's libsndfile cannot write it)"
        raise RequestError(
            f"response_format: {value!r} is not available{why}; formats: {', '.join(available)}",
            param="response_format",
        )
    return value


def speech_job(
    body: Mapping[str, Any],
    table: VoiceTable,
    *,
    max_chars: int,
    formats: tuple[str, ...],
    default_format: str,
) -> SpeechJob:
    """The job a ``POST /v1/audio/speech`` body asks for."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        known = ", ".join(sorted(FIELDS))
        raise RequestError(f"{unknown[0]}: unknown field; fields: {known}", param=unknown[0])
    voice = _voice(table, str(_text(body, "model")))
    text = str(_text(body, "input"))
    if len(text) > max_chars:
        raise RequestError(
            f"input: {len(text)} characters, more than this server's limit of {max_chars}",
            param="input",
        )
    controls = {
        name: _number(body, name, *CONTROL_RANGES[name], CONTROL_DEFAULTS[name])
        for name in CONTROLS
        if body.get(name) is not None
    }
    format = _format(body, formats, default_format)
    events, timestamps = _events(body, format)
    return SpeechJob(
        voice=voice,
        text=text,
        speaker=_speaker(voice, _text(body, "voice", required=False)),
        pace=_number(body, "speed", *SPEED_RANGE, 1.0),
        format=format,
        controls=controls,
        events=events,
        timestamps=timestamps,
    )
