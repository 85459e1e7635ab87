"""The profile suite's instruments: its clocks time what they wrap, a profiled engine speaks as
an unwrapped one does, and the parts it reports add up to the call and land where the work is."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from autovoice.bundle import default_voice_path
from autovoice.inference import VoiceInferenceEngine
from benchmarks.bench_profile import PARTS, Clock, Profile, texts_of

VOICE = default_voice_path()
needs_voice = pytest.mark.skipif(VOICE is None, reason="no shipped voice")


def engine() -> VoiceInferenceEngine:
    return VoiceInferenceEngine(VOICE, backend="onnxruntime", threads=1)


def test_a_clock_sums_the_time_inside_what_it_wraps_and_passes_results_through():
    clock = Clock()
    slow = clock.wrap(lambda seconds: time.sleep(seconds) or seconds)
    assert slow(0.02) == 0.02 and slow(0.03) == 0.03
    assert 0.05 <= clock.seconds < 0.5
    clock.reset()
    assert clock.seconds == 0.0


def test_texts_of_gives_different_texts_of_about_the_length():
    texts = texts_of(64, 5)
    assert len(set(texts)) == 5
    assert all(40 <= len(t) <= 65 and t.endswith(".") for t in texts)


@needs_voice
def test_a_profiled_engine_speaks_exactly_as_an_unwrapped_one():
    texts = texts_of(40, 3)
    plain = engine().synthesize_many(texts, batch_size=2)
    waves, _ = Profile(engine()).run(texts, 2)
    assert all(np.array_equal(a, b) for a, b in zip(plain, waves, strict=True))


@needs_voice
def test_the_parts_add_up_to_the_call_and_each_is_measured():
    profile = Profile(engine())
    texts = texts_of(96, 2)
    profile.run(texts, 1)  # warm-up
    _, seconds = profile.run(texts, 1)
    assert sum(seconds[p] for p in PARTS) == pytest.approx(seconds["total"])
    assert all(seconds[p] > 0 for p in ("front end", "acoustic graph", "vocoder graph", "head"))
    # the shipped voice's head is Griffin-Lim over every frame: far more than its graphs' setup
    assert seconds["head"] > seconds["front end"]
    assert seconds["engine"] >= -1e-3


@needs_voice
def test_a_slower_head_shows_in_the_head_and_nowhere_else():
    profile = Profile(engine())
    head_session = profile.engine.stages["vocoder"].session._target
    original = head_session.head

    class Slow:
        def __getattr__(self, name):
            return getattr(original, name)

        def synthesise(self, values, audio, **kwargs):
            time.sleep(0.2)
            return original.synthesise(values, audio, **kwargs)

    texts = texts_of(40, 1)
    profile.run(texts, 1)
    _, before = profile.run(texts, 1)
    head_session.head = Slow()
    _, after = profile.run(texts, 1)
    assert after["head"] - before["head"] >= 0.18
    assert after["vocoder graph"] - before["vocoder graph"] < 0.1
    assert after["engine"] - before["engine"] < 0.1
