"""A job's audio, sentence by sentence, made on its voice's threads and awaited on the event
loop, which stays free to answer other requests (``/health`` among them) meanwhile.

Each sentence is a separate piece of work: when the request goes away (its client
disconnected, the server is shutting down), no further sentence is started, the one being
made is dropped when done, and only then does the request give up its place in the queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from typing import Any

from autovoice.inference import SpeechChunk
from autovoice.server.requests import SpeechJob
from autovoice.server.voices import ServedVoice

__all__ = ["Synthesis", "sentence_audio"]


def sentence_audio(engine: Any, job: SpeechJob) -> Iterator[SpeechChunk]:
    """The job's sentences as ``engine.synthesize_stream`` makes them: their audio one after
    another is the whole text's, exactly as ``engine.synthesize_speech`` makes it."""
    return engine.synthesize_stream(  # type: ignore[no-any-return]
        job.text, job.speaker, job.pace, timestamps=job.timestamps, **job.controls
    )


_END = object()


class Synthesis:
    """One admitted job's sentences, each made on its voice's threads when asked for. The
    job holds its place in the voice's queue until :meth:`close`, and then until the sentence
    being made (if any) is done."""

    def __init__(self, voice: ServedVoice, job: SpeechJob) -> None:
        self.voice = voice
        self.job = job
        self._pieces: Iterator[SpeechChunk] | None = None
        self._current: Future[Any] | None = None

    def _step(self) -> Any:
        if self._pieces is None:  # the engine checks its arguments here, on a voice thread
            self._pieces = sentence_audio(self.voice.engine, self.job)
        piece = next(self._pieces, _END)
        if piece is not _END:
            self.voice.count_sentence()
        return piece

    async def next(self) -> SpeechChunk | None:
        """The next sentence, None after the last."""
        self._current = self.voice.executor.submit(self._step)
        piece = await asyncio.wrap_future(self._current)
        return None if piece is _END else piece

    async def pieces(self) -> AsyncIterator[SpeechChunk]:
        while (piece := await self.next()) is not None:
            yield piece

    def close(self, release: Callable[[], None]) -> None:
        """Start no more sentences; ``release()`` once the sentence being made is done."""
        current = self._current

        def finish(_: object = None) -> None:
            close = getattr(self._pieces, "close", None)
            if close is not None:
                close()
            release()

        if current is None or current.cancel() or current.done():
            finish()
        else:
            current.add_done_callback(finish)
