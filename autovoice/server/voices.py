"""The voices a server speaks with: each an engine, its own synthesis threads and a bounded
count of the requests it holds.

A request is admitted to a voice while fewer than ``queue_size`` requests hold it (running or
waiting for a thread), else it is refused at once (:class:`Busy`): memory stays bounded, and a
client learns to come back instead of waiting without end. Work goes to a voice's threads one
sentence at a time, so concurrent requests take turns and each one's first audio comes early.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from autovoice.errors import AutovoiceError
from autovoice.server.settings import ServerSettings

__all__ = ["Busy", "ServedVoice", "VoiceTable", "open_voices"]

OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
"""OpenAI's speech model names: each means the first voice served, so that a program written
for OpenAI runs with only its base URL changed."""


class Busy(Exception):
    """A voice holds as many requests as its queue takes."""


@attrs.define(eq=False)
class Counters:
    """What a voice has done and holds now (under ``lock``)."""

    active: int = 0
    requests: int = 0
    sentences: int = 0
    refused: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock)


class ServedVoice:
    """One voice bundle behind the server: its engine, threads and queue."""

    def __init__(self, name: str, engine: Any, *, queue_size: int, workers: int) -> None:
        self.name = name
        self.engine = engine
        self.queue_size = queue_size
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=f"voice-{name}")
        self.counters = Counters()

    @property
    def speakers(self) -> tuple[str, ...]:
        """The names of the voice's speakers (one, ``"0"``, when the bundle names none)."""
        return tuple(self.engine.speakers) or ("0",)

    def admit(self) -> Callable[[], None]:
        """Take a place in the voice's queue; the function that gives it back (once, however
        often it is called). :class:`Busy` when the queue is full."""
        with self.counters.lock:
            if self.counters.active >= self.queue_size:
                self.counters.refused += 1
                raise Busy(self.name)
            self.counters.active += 1
            self.counters.requests += 1
        given_back = threading.Event()

        def release() -> None:
            with self.counters.lock:
                if not given_back.is_set():
                    given_back.set()
                    self.counters.active -= 1

        return release

    def count_sentence(self) -> None:
        with self.counters.lock:
            self.counters.sentences += 1

    def status(self) -> dict[str, int]:
        """The queue's state and what the voice has done since the server started."""
        c = self.counters
        with c.lock:
            return {
                "active": c.active,
                "queue_size": self.queue_size,
                "requests": c.requests,
                "refused": c.refused,
                "sentences": c.sentences,
            }

    def describe(self) -> dict[str, Any]:
        """The voice for ``GET /v1/voices``: speakers, sample rate and each stage's backend
        (no file paths)."""
        stages = self.engine.describe()["stages"]
        return {
            "name": self.name,
            "speakers": [{"id": i, "name": s} for i, s in enumerate(self.speakers)],
            "sample_rate": self.engine.sample_rate,
            "backends": {stage: info["backend"] for stage, info in stages.items()},
            "devices": {stage: info["device"] for stage, info in stages.items()},
        }

    def close(self) -> None:
        """Stop its threads once their current sentence is done; queued sentences are dropped."""
        self.executor.shutdown(wait=True, cancel_futures=True)


class VoiceTable:
    """The served voices by name; the first is the default."""

    def __init__(self, voices: Sequence[ServedVoice]) -> None:
        if not voices:
            raise AutovoiceError("no voice to serve")
        self.voices = {voice.name: voice for voice in voices}
        self.default = voices[0]

    def find(self, model: str) -> ServedVoice | None:
        """The voice ``model`` names: a served voice's name, or an OpenAI model name (the
        default voice)."""
        if model in self.voices:
            return self.voices[model]
        return self.default if model in OPENAI_MODELS else None

    def close(self) -> None:
        for voice in self.voices.values():
            voice.close()


def _named(entry: str) -> tuple[str | None, str]:
    """``NAME=BUNDLE`` as (NAME, BUNDLE); a plain ``BUNDLE`` as (None, BUNDLE)."""
    name, sep, bundle = entry.partition("=")
    return (name.strip(), bundle.strip()) if sep and name.strip() else (None, entry)


def open_voices(settings: ServerSettings, registry: Any = None) -> VoiceTable:
    """An engine for each of ``settings.voices``, named by its ``NAME=`` or its bundle's name;
    two voices of one name are an error naming ``--voice``."""
    from autovoice.commands.voices import resolve_voice
    from autovoice.inference import VoiceInferenceEngine

    served: dict[str, ServedVoice] = {}
    for entry in settings.voices:
        name, where = _named(entry)
        engine = VoiceInferenceEngine(
            resolve_voice(where),
            backend=settings.backend,
            device=settings.device,
            threads=settings.threads,
            max_chars=settings.max_chars,
            lexicon=settings.lexicon,
            registry=registry,
        )
        name = name or engine.bundle.name
        if name in served:
            raise AutovoiceError(
                f"--voice {entry}: a voice named {name!r} is served already; "
                "serve it under another name with --voice NAME=BUNDLE"
            )
        served[name] = ServedVoice(
            name, engine, queue_size=settings.queue_size, workers=settings.workers
        )
    return VoiceTable(list(served.values()))
