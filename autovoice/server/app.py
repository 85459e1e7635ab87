"""The web application: routes, the API key, body limits and errors as JSON.

| route | what |
| --- | --- |
| ``GET /`` | the page to type text and hear it (``static/index.html``) |
| ``GET /health`` | ``{"status": "ok", "voices": {...}}``: each voice's queue; never needs a key |
| ``GET /v1/voices`` | the voices: speakers, sample rate, backends; the formats |
| ``GET /v1/models`` | the voices as OpenAI lists models |
| ``POST /v1/audio/speech`` | speech, OpenAI's way: ``wav`` and ``pcm`` stream |

Every error is a JSON body ``{"error": {"message", "type", "param"}}``, as OpenAI's clients
read it; an unexpected one says only that it happened (its traceback goes to the server's
log), so no traceback or file path reaches a client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

import attrs
import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from autovoice.errors import AutovoiceError
from autovoice.inference import SpeechChunk
from autovoice.server.formats import FORMATS, AudioFormat, available_formats, pcm16, wav_header
from autovoice.server.requests import FIELDS, RequestError, SpeechJob, parse_json, speech_job
from autovoice.server.settings import ServerSettings
from autovoice.server.synthesis import Synthesis
from autovoice.server.voices import Busy, VoiceTable

__all__ = ["ServerState", "create_app"]

logger = logging.getLogger("autovoice.server")
PREFERRED_DEFAULT = ("mp3", "wav")
"""``response_format`` when a request gives none: OpenAI's default (mp3), where this
installation writes it, else wav."""


@attrs.frozen(kw_only=True)
class ServerState:
    """What every request reads: the voices, the settings and the formats on offer."""

    voices: VoiceTable
    settings: ServerSettings
    formats: tuple[str, ...]
    default_format: str


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


# -- errors ------------------------------------------------------------------------------------


def _error(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(
        RequestError(message, param=param, status=status, kind=kind).body(), status_code=status
    )


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return _error(exc.status_code, message, kind)


def public_message(message: str, state: ServerState) -> str:
    """``message`` with each voice bundle's folder named by its voice's name instead."""
    for voice in state.voices.voices.values():
        message = message.replace(str(voice.engine.bundle.root), f"voice {voice.name!r}")
    return message


ENGINE_FIELDS = {"pace": "speed", "speaker_id": "voice", "text": "input"}
"""The engine's argument names that a request calls otherwise."""


async def _autovoice_error(request: Request, exc: Exception) -> Response:
    """Input the engine refused (a control this voice lacks, a sentence with more symbols than
    it takes, ...): a 400 naming the request's field where the message names an argument."""
    message = public_message(str(exc), _state(request))
    named = message.partition(":")[0]
    field = ENGINE_FIELDS.get(named, named if named in FIELDS else "input")
    return _error(400, message, "invalid_request_error", field)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal error; the server's log has the details", "server_error")


# -- the API key -------------------------------------------------------------------------------


class RequireKey:
    """ASGI middleware: a request under ``/v1/`` needs ``Authorization: Bearer KEY`` (compared
    in constant time); the page and ``/health`` need none."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            headers = dict(scope["headers"])
            given = headers.get(b"authorization", b"").removeprefix(b"Bearer ").strip()
            if not hmac.compare_digest(given, self.key):
                what = "a wrong API key" if given else "no API key"
                response = _error(
                    401,
                    f"authorization: {what}; send the header 'Authorization: Bearer KEY'",
                    "authentication_error",
                    "authorization",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# -- the routes --------------------------------------------------------------------------------


async def page(request: Request) -> Response:
    html = resources.files("autovoice.server").joinpath("static/index.html").read_text("utf-8")
    return HTMLResponse(html)


async def health(request: Request) -> Response:
    state = _state(request)
    status = {name: voice.status() for name, voice in state.voices.voices.items()}
    return JSONResponse({"status": "ok", "voices": status})


async def list_voices(request: Request) -> Response:
    state = _state(request)
    return JSONResponse(
        {
            "voices": [voice.describe() for voice in state.voices.voices.values()],
            "default": state.voices.default.name,
            "formats": list(state.formats),
            "default_format": state.default_format,
            "streaming_formats": [f for f in state.formats if FORMATS[f].streams],
            "max_chars": state.settings.max_chars,
        }
    )


async def list_models(request: Request) -> Response:
    names = _state(request).voices.voices
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "autovoice"} for n in names]
    return JSONResponse({"object": "list", "data": data})


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused with 413 once it is longer than ``limit`` bytes."""
    too_long = RequestError(
        f"body: longer than this server's limit of {limit} bytes", param="body", status=413
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_long
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise too_long
    return bytes(body)


def _admit(job: SpeechJob, retry_after: int) -> Callable[[], None]:
    try:
        return job.voice.admit()
    except Busy:
        raise RequestError(
            f"model: voice {job.voice.name!r} is busy ({job.voice.queue_size} requests); "
            f"try again in {retry_after} s",
            param="model",
            status=503,
            kind="server_busy",
            headers={"Retry-After": str(retry_after)},
        ) from None


async def speech(request: Request) -> Response:
    state = _state(request)
    body = parse_json(await read_body(request, state.settings.max_body_bytes))
    job = speech_job(
        body,
        state.voices,
        max_chars=state.settings.max_chars,
        formats=state.formats,
        default_format=state.default_format,
    )
    synthesis = Synthesis(job.voice, job)
    release = _admit(job, state.settings.retry_after)
    done = functools.partial(synthesis.close, release)
    try:
        first = await synthesis.next()  # its faults are the request's: 4xx, not a cut stream
        if first is None:
            raise RequestError("input: nothing in it to speak", param="input")
    except BaseException:
        done()
        raise
    audio = FORMATS[job.format]
    rate = int(job.voice.engine.sample_rate)
    headers = {"X-Sample-Rate": str(rate)}
    chunks = _chunks(first, synthesis)
    if job.events:
        events = _events(chunks, audio, rate, job.timestamps)
        return AudioStream(events, done, media_type="text/event-stream", headers=headers)
    if audio.streams:
        stream = _stream(chunks, audio, rate)
        return AudioStream(stream, done, media_type=audio.media_type, headers=headers)
    try:
        wave = np.concatenate([chunk.audio async for chunk in chunks])
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(job.voice.executor, audio.encode, wave, rate)
    finally:
        done()
    return Response(data, media_type=audio.media_type, headers=headers)


async def _chunks(first: SpeechChunk, synthesis: Synthesis) -> AsyncIterator[SpeechChunk]:
    yield first
    async for chunk in synthesis.pieces():
        yield chunk


async def _framed(
    chunks: AsyncIterator[SpeechChunk], audio: AudioFormat, rate: int
) -> AsyncIterator[tuple[SpeechChunk, bytes]]:
    """Each chunk with its audio's bytes, a WAV header of unknown length before the first
    for ``wav``."""
    header = wav_header(rate) if audio.name == "wav" else b""
    async for chunk in chunks:
        yield chunk, header + pcm16(chunk.audio, rate)
        header = b""


async def _stream(
    chunks: AsyncIterator[SpeechChunk], audio: AudioFormat, rate: int
) -> AsyncIterator[bytes]:
    async for _, data in _framed(chunks, audio, rate):
        yield data


def _event(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


async def _events(
    chunks: AsyncIterator[SpeechChunk], audio: AudioFormat, rate: int, timestamps: bool
) -> AsyncIterator[bytes]:
    """OpenAI's speech events: a ``speech.audio.delta`` per sentence (its audio's bytes in
    base64, with autovoice's ``index``, ``text``, ``start`` and, asked for, ``words`` and
    ``phonemes``), then ``speech.audio.done``."""
    samples = 0
    async for chunk, data in _framed(chunks, audio, rate):
        event: dict[str, Any] = {
            "type": "speech.audio.delta",
            "audio": base64.b64encode(data).decode("ascii"),
            "index": chunk.index,
            "text": chunk.text,
            "start": chunk.start,
        }
        if timestamps:
            event["words"] = [attrs.asdict(word) for word in chunk.words]
            event["phonemes"] = [attrs.asdict(phoneme) for phoneme in chunk.phonemes]
        samples += len(chunk.audio)
        yield _event(event)
    usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    yield _event(
        {
            "type": "speech.audio.done",
            "usage": usage,
            "seconds": samples / rate,
            "sample_rate": rate,
        }
    )


class AudioStream(StreamingResponse):
    """A streamed response that calls ``done`` however it ends: sent, cut off by its client
    (which cancels it) or by the server's shutdown."""

    def __init__(self, content: AsyncIterator[bytes], done: Callable[[], None], **kw: Any) -> None:
        super().__init__(content, **kw)
        self.done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.done()


# -- the application ---------------------------------------------------------------------------


def create_app(voices: VoiceTable, settings: ServerSettings) -> Starlette:
    """The application serving ``voices`` as ``settings`` say; its shutdown stops the voices'
    threads."""
    formats = available_formats()
    default = next(f for f in PREFERRED_DEFAULT if f in formats)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        voices.close()

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/health", health),
            Route("/v1/voices", list_voices),
            Route("/v1/models", list_models),
            Route("/v1/audio/speech", speech, methods=["POST"]),
        ],
        exception_handlers={
            RequestError: _request_error,
            HTTPException: _http_error,
            AutovoiceError: _autovoice_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.server = ServerState(
        voices=voices, settings=settings, formats=formats, default_format=default
    )
    if settings.api_key:
        app.add_middleware(RequireKey, key=settings.api_key)
    return app
