"""``POST /v1/audio/speech``: the body read within its limit and checked, a place taken in
the voice's queue, then the audio: streamed a sentence at a time (``wav``, ``pcm``), as OpenAI's
server-sent events (``stream_format: "sse"``), or encoded whole (``flac``, ``mp3``, ``opus``).

The first sentence is made before the response starts, so that whatever the engine refuses
in it is a 4xx answer rather than a cut stream.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import numpy as np
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from autovoice.inference import SpeechChunk
from autovoice.server.formats import FORMATS, AudioFormat, pcm16, wav_header
from autovoice.server.requests import RequestError, SpeechJob, parse_json, speech_job
from autovoice.server.state import state_of
from autovoice.server.synthesis import Synthesis
from autovoice.server.voices import Busy

__all__ = ["AudioStream", "read_body", "speech"]


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
    state = state_of(request)
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
