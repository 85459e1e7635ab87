"""Streaming synthesis: sentence by sentence, the chunks together exactly the whole text's audio,
each with its text, index, start and synthesis time; arguments checked before the first chunk."""

from __future__ import annotations

import types

import numpy as np
import pytest

from autovoice.inference import InferenceError, SpeechChunk, VoiceInferenceEngine

TEXT = "Hello there, how are you? I am fine. Thanks for asking!"


@pytest.fixture(scope="module")
def engine() -> VoiceInferenceEngine:
    pytest.importorskip("onnxruntime")
    return VoiceInferenceEngine(None, backend="onnxruntime", threads=1)


def test_the_chunks_are_the_sentences_and_join_to_the_whole_audio(
    engine: VoiceInferenceEngine,
) -> None:
    chunks = list(engine.synthesize_stream(TEXT, pace=1.1))
    assert all(isinstance(chunk, SpeechChunk) for chunk in chunks)
    assert [c.text for c in chunks] == engine.sentences(TEXT) and len(chunks) == 3
    assert [c.index for c in chunks] == [0, 1, 2]
    whole = engine.synthesize_speech(TEXT, pace=1.1)
    joined = np.concatenate([c.audio for c in chunks])
    np.testing.assert_array_equal(joined, whole)  # bit-identical, not close
    rate = engine.sample_rate
    starts = np.cumsum([0, *(len(c.audio) for c in chunks[:-1])]) / rate
    np.testing.assert_allclose([c.start for c in chunks], starts)
    for chunk in chunks[1:]:  # the pause leads each later chunk; the first starts at once
        assert not chunk.audio[: engine.pause_samples].any()
        assert chunk.audio[engine.pause_samples :].any()
    assert all(c.seconds > 0 and c.audio.dtype == np.float32 for c in chunks)
    assert engine.last_timing is not None
    assert engine.last_timing.audio_seconds == pytest.approx(len(whole) / rate)


def test_each_chunk_is_made_only_when_asked_for(engine: VoiceInferenceEngine) -> None:
    stream = engine.synthesize_stream(TEXT)
    assert isinstance(stream, types.GeneratorType)
    first = next(stream)
    assert first.index == 0 and first.text == "Hello there, how are you?"
    alone = engine.synthesize_speech(first.text)
    np.testing.assert_array_equal(first.audio, alone)
    stream.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": ""}, "text: the text is empty"),
        ({"text": TEXT, "speaker_id": 7}, "unknown speaker_id 7"),
        ({"text": TEXT, "pace": 9.0}, "pace must be between"),
        ({"text": TEXT, "pitch_shift": 40.0}, "pitch_shift must be between"),
        ({"text": TEXT, "energy_scale": 0.0}, "energy_scale must be between"),
    ],
)
def test_bad_arguments_fail_at_the_call(
    engine: VoiceInferenceEngine, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InferenceError, match=message):
        engine.synthesize_stream(**kwargs)  # type: ignore[arg-type]
