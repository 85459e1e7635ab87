"""The web application: its routes, the API key, and errors as JSON.

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

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from autovoice.errors import AutovoiceError
from autovoice.server.formats import FORMATS, available_formats
from autovoice.server.requests import FIELDS, RequestError
from autovoice.server.settings import ServerSettings
from autovoice.server.speech import speech
from autovoice.server.state import ServerState, state_of
from autovoice.server.voices import VoiceTable

__all__ = ["create_app"]

logger = logging.getLogger("autovoice.server")
PREFERRED_DEFAULT = ("mp3", "wav")
"""``response_format`` when a request gives none: OpenAI's default (mp3), where this
installation writes it, else wav."""


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
    message = public_message(str(exc), state_of(request))
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
    state = state_of(request)
    status = {name: voice.status() for name, voice in state.voices.voices.items()}
    return JSONResponse({"status": "ok", "voices": status})


async def list_voices(request: Request) -> Response:
    state = state_of(request)
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
    names = state_of(request).voices.voices
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "autovoice"} for n in names]
    return JSONResponse({"object": "list", "data": data})


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
