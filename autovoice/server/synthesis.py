"""A job's audio, sentence by sentence, made on its voice's threads and awaited on the event
loop, which stays free to answer other requests (``/health`` among them) meanwhile.

Each sentence is a separate piece of work: when the request goes away (its client
disconnected, the server is shutting down), no further sentence is started, the one being
made is dropped when done, and only then does the request give up its place in the queue.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Generator
from concurrent.futures import Future
from typing import Any

import numpy as np
import numpy.typing as npt

from autovoice.inference.sentences import split_sentences
from autovoice.server.requests import RequestError, SpeechJob
from autovoice.server.voices import ServedVoice

__all__ = ["Synthesis", "sentence_audio"]

Wave = npt.NDArray[np.float32]


def sentence_audio(engine: Any, job: SpeechJob) -> Generator[Wave, None, None]:
    """The job's audio, a sentence at a time; after the first, each piece begins with the
    pause between sentences, so that the pieces one after another are the whole text's audio,
    as ``engine.synthesize_speech`` makes it."""
    stream = getattr(engine, "synthesize_stream", None)
    if stream is not None:
        for chunk in stream(job.text, speaker_id=job.speaker, pace=job.pace, **job.controls):
            yield chunk.audio
        return
    if job.controls:  # an engine without speech controls
        name = sorted(job.controls)[0]
        raise RequestError(f"{name}: this installation's engine has no such control", param=name)
    gap = np.zeros(engine.pause_samples, np.float32)
    for i, sentence in enumerate(split_sentences(job.text, max_chars=engine.sentence_chars)):
        wave = engine.synthesize_batch([sentence], job.speaker, job.pace)[0]
        yield np.concatenate([gap, wave]) if i else wave


_END = object()


class Synthesis:
    """One admitted job's sentences, each made on its voice's threads when asked for. The
    job holds its place in the voice's queue until :meth:`close`, and then until the sentence
    being made (if any) is done."""

    def __init__(self, voice: ServedVoice, job: SpeechJob) -> None:
        self.voice = voice
        self.job = job
        self._pieces = sentence_audio(voice.engine, job)
        self._current: Future[Any] | None = None
        self._closed = threading.Event()

    def _step(self) -> Any:
        if self._closed.is_set():
            return _END
        piece = next(self._pieces, _END)
        if piece is not _END:
            self.voice.count_sentence()
        return piece

    async def next(self) -> Wave | None:
        """The next sentence's audio, None after the last."""
        self._current = self.voice.executor.submit(self._step)
        piece = await asyncio.wrap_future(self._current)
        return None if piece is _END else piece

    async def pieces(self) -> AsyncIterator[Wave]:
        while (piece := await self.next()) is not None:
            yield piece

    def close(self, release: Callable[[], None]) -> None:
        """Start no more sentences; ``release()`` once the sentence being made is done."""
        self._closed.set()
        current = self._current

        def finish(_: object = None) -> None:
            self._pieces.close()
            release()

        if current is None or current.cancel() or current.done():
            finish()
        else:
            current.add_done_callback(finish)
