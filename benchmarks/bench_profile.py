"""Where synthesis time goes: the text front end, the acoustic graph, the vocoder graph, the
vocoder's head and the engine's own work, at batch 1 and 8, for short and long texts.

Eight different texts of 32 characters (short) and eight of 224 (long, two or three sentences
each), cut from the inference suite's paragraph at different places, are
spoken by ``synthesize_many`` at ``batch_size`` 1 and 8 on ONNX Runtime (and PyTorch, when it is
installed), :func:`benchmarks._common.bench_threads` threads. Each part is timed inside the
engine by wrapping what it calls (nothing in the engine changes; the audio is checked equal to
an unwrapped engine's):

- **front end**: ``TextFrontEnd.process`` (normalization, espeak-ng phonemes, symbol ids);
- **acoustic graph**: the acoustic backend session's ``run`` (the graph alone, no checks);
- **vocoder graph**: the vocoder backend session's ``run`` (0 for a voice whose head needs no
  graph);
- **head**: what makes a waveform of the vocoder graph's output (Griffin-Lim, an inverse STFT,
  or nothing);
- **engine**: the rest of the call: text checks, sentence splitting, grouping by length,
  collating and padding, input checks against the signatures, cutting and joining waves.

Each cell is seconds per second of audio (the part's real-time factor); the shares add up to
the whole call's. Medians over repeats after a warm-up.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks._common import bench_threads, markdown_table
from benchmarks._speakers import autovoice_systems, registry
from benchmarks._voice import bench_voice
from benchmarks.bench_inference import PARAGRAPH

PARTS = ("front end", "acoustic graph", "vocoder graph", "head", "engine")
WORKLOADS = {"short": 32, "long": 224}
"""Workload -> characters of each of its texts."""
TEXTS = 8
BATCHES = (1, 8)


def texts_of(chars: int, count: int) -> list[str]:
    """``count`` different texts of about ``chars`` characters each, whole words, cut from the
    paragraph (repeated as needed) at successive word offsets."""
    words = (PARAGRAPH + " ") * (chars * count // len(PARAGRAPH) + 2)
    tokens = words.split()
    texts = []
    for index in range(count):
        picked: list[str] = []
        for word in tokens[index * 3 :]:
            if len(" ".join([*picked, word])) > chars:
                break
            picked.append(word)
        texts.append(" ".join(picked).rstrip(",;:") + ".")
    return texts


class Clock:
    """Seconds spent inside the calls it wraps, summed until :meth:`reset`."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def reset(self) -> None:
        self.seconds = 0.0

    def wrap(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


class _Timed:
    """``target`` with its ``run`` (or ``process``) timed by ``clock``; everything else as is."""

    def __init__(self, target: Any, clock: Clock, method: str = "run") -> None:
        self._target = target
        setattr(self, method, clock.wrap(getattr(target, method)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class Profile:
    """An engine whose parts are timed (see the module docstring)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.clocks = {name: Clock() for name in ("front end", "acoustic", "vocoder", "graph")}
        self.vocoder_graph = Clock()
        engine.front_end = _Timed(engine.front_end, self.clocks["front end"], "process")
        acoustic = engine.stages["acoustic"]
        acoustic.session = _Timed(acoustic.session, self.clocks["acoustic"])
        vocoder = engine.stages["vocoder"]
        head_session = vocoder.session
        vocoder.session = _Timed(head_session, self.clocks["vocoder"])
        graph = getattr(head_session, "graph", None)
        if graph is not None:  # the graph's runner (checks included) and its session alone
            head_session.graph = _Timed(graph, self.clocks["graph"])
            graph.session = _Timed(graph.session, self.vocoder_graph)

    def run(self, texts: Sequence[str], batch_size: int) -> tuple[list[Any], dict[str, float]]:
        """The waves of ``texts`` and the seconds of each part (:data:`PARTS`) and in total."""
        for clock in (*self.clocks.values(), self.vocoder_graph):
            clock.reset()
        start = time.perf_counter()
        waves = self.engine.synthesize_many(list(texts), batch_size=batch_size)
        total = time.perf_counter() - start
        c = {name: clock.seconds for name, clock in self.clocks.items()}
        parts = {
            "front end": c["front end"],
            "acoustic graph": c["acoustic"],
            "vocoder graph": self.vocoder_graph.seconds,
            "head": c["vocoder"] - c["graph"],
        }
        parts["engine"] = total - sum(parts.values())
        return waves, {**parts, "total": total}


def profile_system(
    settings: dict[str, Any], voice: Any, *, warmup: int, repeats: int
) -> list[dict[str, Any]]:
    """The rows of one backend: each workload at each batch size."""
    from autovoice.inference import VoiceInferenceEngine

    engine = VoiceInferenceEngine(voice, registry=registry(), threads=bench_threads(), **settings)
    profile = Profile(engine)
    rows = []
    for workload, chars in WORKLOADS.items():
        texts = texts_of(chars, TEXTS)
        for batch in BATCHES:
            for _ in range(warmup):
                waves, _seconds = profile.run(texts, batch)
            audio_s = sum(len(w) for w in waves) / engine.sample_rate
            runs = [profile.run(texts, batch)[1] for _ in range(repeats)]
            median = {k: statistics.median(r[k] for r in runs) for k in (*PARTS, "total")}
            rows.append(
                {
                    "backend": settings["backend"],
                    "workload": workload,
                    "batch": batch,
                    "audio_s": audio_s,
                    "rtf": {k: v / audio_s for k, v in median.items()},
                    "share": {k: median[k] / median["total"] for k in PARTS},
                }
            )
    return rows


def same_audio(voice: Any, settings: dict[str, Any], texts: Sequence[str]) -> bool:
    """Whether a profiled engine speaks ``texts`` exactly as an unwrapped one does."""
    from autovoice.inference import VoiceInferenceEngine

    def engine() -> Any:
        return VoiceInferenceEngine(voice, registry=registry(), threads=1, **settings)

    plain = engine().synthesize_many(list(texts), batch_size=2)
    timed, _ = Profile(engine()).run(texts, 2)
    return all(np.array_equal(a, b) for a, b in zip(plain, timed, strict=True))


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    warmup, repeats = (1, 2) if quick else (2, 7)
    voice = bench_voice()
    reg = registry()
    usable = {e.spec.name for e in reg.entries("backend") if e.spec.availability().available}
    systems = autovoice_systems(usable, gpu=False)
    rows: list[dict[str, Any]] = []
    for settings in systems.values():
        rows += profile_system(settings, voice.path, warmup=warmup, repeats=repeats)
    result = {
        "voice": voice.record(),
        "threads": bench_threads(),
        "texts": TEXTS,
        "workloads": dict(WORKLOADS),
        "same_audio": same_audio(voice.path, systems["onnxruntime"], texts_of(32, 3)),
        "rows": rows,
    }
    table = markdown_table(
        ["backend", "texts", "batch", "total RTF", *(f"{p} RTF (share)" for p in PARTS)],
        [
            [
                r["backend"],
                f"{TEXTS} × {WORKLOADS[r['workload']]} chars",
                r["batch"],
                f"{r['rtf']['total']:.4f}",
                *(f"{r['rtf'][p]:.4f} ({r['share'][p]:.0%})" for p in PARTS),
            ]
            for r in rows
        ],
    )
    return result, table
