"""Two voices behind one server, one of them with two speakers (a tiny voice trained on the
spot): ``model`` picks the bundle, ``voice`` the speaker by name or id, and each answer is that
voice's and speaker's own audio from the engine."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("torch")

from autovoice.audio.io import encode_audio
from autovoice.inference import VoiceInferenceEngine
from autovoice.server import ServerSettings, serving

pytestmark = pytest.mark.slow
TEXT = "Hello there. Two voices, one server."


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from benchmarks._tiny_voice import MEL_HEAD, make_tiny_voice

    return make_tiny_voice(
        tmp_path_factory.mktemp("tiny"), acoustic_steps=4, sentences=4, vocoder=MEL_HEAD
    )


def pcm(base: str, **body: object) -> httpx.Response:
    body = {"input": TEXT, "response_format": "pcm", **body}
    return httpx.post(f"{base}/v1/audio/speech", json=body, timeout=120)


def test_model_is_the_bundle_and_voice_the_speaker(tiny):
    engine = VoiceInferenceEngine(tiny, threads=1)
    assert engine.speakers == ("spk00", "spk01")
    with serving(ServerSettings(voices=("default", f"tiny={tiny}"), port=0, threads=1)) as base:
        listed = httpx.get(f"{base}/v1/voices").json()
        assert [v["name"] for v in listed["voices"]] == ["default", "tiny"]
        assert [s["name"] for s in listed["voices"][1]["speakers"]] == ["spk00", "spk01"]
        by_name = pcm(base, model="tiny", voice="spk01").content
        by_id = pcm(base, model="tiny", voice="1").content
        first = pcm(base, model="tiny").content
        shipped = pcm(base, model="tts-1", voice="hibari").content
        unknown = pcm(base, model="tiny", voice="hibari")
    for speaker, got in ((1, by_name), (1, by_id), (0, first)):
        wave = engine.synthesize_speech(TEXT, speaker_id=speaker)
        assert got == encode_audio(wave, engine.sample_rate, ".raw")
    assert by_name != first
    default = VoiceInferenceEngine("default", threads=1)
    assert shipped == encode_audio(default.synthesize_speech(TEXT), default.sample_rate, ".raw")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"].endswith("its speakers: 0: spk00, 1: spk01")
