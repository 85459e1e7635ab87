"""Word and phoneme timestamps from the acoustic model's durations, on the shipped voice: the
words' boundaries fall where its audio is silent, the times end where the audio does, and the
CLI writes them; a voice exported before durations says to re-export it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from autovoice.cli import main
from autovoice.inference import InferenceError, TimedSpeech, VoiceInferenceEngine
from autovoice.signature import DURATIONS

PAUSED = "One, two, three. Four, five, six."
FRAME = 256


@pytest.fixture(scope="module")
def engine() -> VoiceInferenceEngine:
    pytest.importorskip("onnxruntime")
    engine = VoiceInferenceEngine(None, backend="onnxruntime", threads=1)
    if DURATIONS not in engine.bundle.stage("acoustic").signature.output_names:
        pytest.skip("the installed default voice gives no durations")
    return engine


def frame_rms(audio: np.ndarray) -> np.ndarray:
    frames = audio[: len(audio) // FRAME * FRAME].reshape(-1, FRAME)
    return np.asarray(np.sqrt(np.mean(frames**2, axis=1)))


@pytest.mark.parametrize("pace", [1.0, 0.8, 1.3])
def test_word_boundaries_fall_where_the_audio_is_silent(
    engine: VoiceInferenceEngine, pace: float
) -> None:
    timed = engine.synthesize_timed(PAUSED, pace=pace)
    rate = engine.sample_rate
    assert [w.text for w in timed.words] == ["One", "two", "three", "Four", "five", "six"]
    np.testing.assert_array_equal(timed.audio, engine.synthesize_speech(PAUSED, pace=pace))
    # the times are the audio's: the last symbol ends where the audio ends, to the sample
    assert timed.phonemes[-1].end == pytest.approx(len(timed.audio) / rate, abs=0.5 / rate)
    assert timed.words[0].start == 0.0
    rms = frame_rms(timed.audio)

    def at(seconds: float) -> int:
        return round(seconds * rate / FRAME)

    inside = np.concatenate([rms[at(w.start) : at(w.end)] for w in timed.words])
    loud = float(np.median(inside))
    for left, right in zip(timed.words, timed.words[1:], strict=False):
        gap = rms[at(left.end) : max(at(right.start), at(left.end) + 1)]
        assert right.start > left.end, "a comma or a sentence end between every two words"
        # a pause, not speech: 0.15 of the words' median level is 16 dB down (measured at pace
        # 1.3, the shortest comma pause reaches 0.113 of it with the voice shipped 2026-12-08 and
        # 0.063 with the one before; in a word the level stays near the median)
        assert gap.min() < 0.15 * loud, f"no silence between {left.text!r} and {right.text!r}"
    # the second sentence begins after the first one's audio and the pause
    first = engine.synthesize_speech("One, two, three.", pace=pace)
    assert timed.words[3].start >= (len(first) + engine.pause_samples) / rate - 1e-9


def test_phonemes_tile_each_sentence_and_belong_to_their_words(
    engine: VoiceInferenceEngine,
) -> None:
    timed = engine.synthesize_timed(PAUSED)
    for word_index, word in enumerate(timed.words):
        own = [p for p in timed.phonemes if p.word == word_index]
        assert own[0].start == word.start and own[-1].end == word.end
    for earlier, later in zip(timed.phonemes, timed.phonemes[1:], strict=False):
        assert earlier.end <= later.start + 1e-12
    assert any(p.symbol == "," and p.word == -1 for p in timed.phonemes)


def test_stream_chunks_carry_the_same_times(engine: VoiceInferenceEngine) -> None:
    chunks = list(engine.synthesize_stream(PAUSED, timestamps=True))
    timed = engine.synthesize_timed(PAUSED)
    assert tuple(w for c in chunks for w in c.words) == timed.words
    assert all(c.start <= c.words[0].start for c in chunks)
    assert not next(iter(engine.synthesize_stream(PAUSED))).words


def test_merged_words_keep_their_text(engine: VoiceInferenceEngine) -> None:
    timed = engine.synthesize_timed("In the end of the day, it was fun.")
    texts = [w.text for w in timed.words]
    assert " ".join(texts) == "In the end of the day it was fun"


def test_a_voice_without_durations_says_to_re_export_it(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    old = tmp_path / "old"
    old.mkdir()
    shipped = VoiceInferenceEngine(None, backend="onnxruntime").bundle.root
    manifest = json.loads((shipped / "manifest.json").read_text())
    outputs = manifest["acoustic"]["signature"]["outputs"]
    manifest["acoustic"]["signature"]["outputs"] = [o for o in outputs if o["name"] != DURATIONS]
    for name in ("acoustic.onnx", "acoustic.safetensors", "vocoder.onnx", "vocoder.safetensors"):
        shutil.copyfile(shipped / name, old / name)  # a copy: a bundle takes no links out of it
    (old / "manifest.json").write_text(json.dumps(manifest))
    engine = VoiceInferenceEngine(old, backend="onnxruntime")
    with pytest.raises(InferenceError, match=r"exported before timestamps.*re-export"):
        engine.synthesize_timed("Hello.")
    assert engine.synthesize_speech("Hello.").size > 0  # plain synthesis is unaffected


def test_the_cli_writes_timestamps(tmp_path: Path, engine: VoiceInferenceEngine) -> None:
    out, times = tmp_path / "out.wav", tmp_path / "times.json"
    assert main(["synthesize", PAUSED, "-o", str(out), "--timestamps", str(times)]) == 0
    written = json.loads(times.read_text())
    timed = engine.synthesize_timed(PAUSED)
    assert written["text"] == PAUSED
    assert written == {"text": PAUSED, **json.loads(json.dumps(timed.to_dict()))}
    assert isinstance(timed, TimedSpeech)
    code = main(["synthesize", "a\nb", "--per-line", "-o", str(out), "--timestamps", str(times)])
    assert code == 1
