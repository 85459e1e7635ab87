"""``autovoice serve``: the real server on 127.0.0.1 (a thread of the test process, or the
command in a subprocess), spoken to with httpx and OpenAI's own client, for every endpoint and
every error. Audio is compared with the engine's own, byte for byte where the format is exact."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from autovoice.audio.io import encode_audio
from autovoice.inference import VoiceInferenceEngine
from autovoice.server import ServerSettings, serving
from autovoice.server import synthesis as synthesis_module
from autovoice.server.formats import available_formats

ROOT = Path(__file__).resolve().parent.parent
TEXT = "Hello there. How are you today? The weather is fine."
MAX_CHARS = 1000
QUEUE = 2
LONG = " ".join(f"This is sentence number {i}." for i in range(1, 25))


def settings(**changes: object) -> ServerSettings:
    base = {"port": 0, "max_chars": MAX_CHARS, "queue_size": QUEUE, "threads": 1}
    return ServerSettings(**{**base, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving(settings()) as base:
        yield base


@pytest.fixture(scope="module")
def engine() -> VoiceInferenceEngine:
    return VoiceInferenceEngine("default", threads=1, max_chars=MAX_CHARS)


def post(url: str, **body: object) -> httpx.Response:
    return httpx.post(f"{url}/v1/audio/speech", json=body, timeout=60)


def speech(url: str, text: str = TEXT, **fields: object) -> httpx.Response:
    return post(url, model="default", voice="hibari", input=text, **fields)


def samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i2")


def health(url: str) -> dict:
    return httpx.get(f"{url}/health", timeout=10).json()["voices"]["default"]


def no_leak(response: httpx.Response) -> None:
    """A response that tells nothing of the server's insides: no traceback, no file path."""
    text = response.text
    assert "Traceback" not in text and 'File "' not in text
    assert str(ROOT) not in text and "/autovoice/" not in text and "site-packages" not in text


# -- the endpoints -------------------------------------------------------------------------------


def test_health_voices_and_models(url):
    assert httpx.get(f"{url}/health").json() == {
        "status": "ok",
        "voices": {"default": health(url)},
    }
    listed = httpx.get(f"{url}/v1/voices").json()
    (voice,) = listed["voices"]
    assert voice["name"] == "default" and voice["sample_rate"] == 22050
    assert voice["speakers"] == [{"id": 0, "name": "hibari"}]
    assert set(voice["backends"]) == {"acoustic", "vocoder"}
    assert listed["formats"] == list(available_formats())
    assert listed["streaming_formats"] == ["wav", "pcm"]
    assert listed["max_chars"] == MAX_CHARS
    assert str(ROOT) not in json.dumps(listed)  # no paths
    models = httpx.get(f"{url}/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["default"]


def test_page_is_served(url):
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/v1/audio/speech" in page.text and "/v1/voices" in page.text


def test_pcm_is_the_engines_audio_byte_for_byte_and_streams(url, engine):
    expected = encode_audio(engine.synthesize_speech(TEXT), engine.sample_rate, ".raw")
    with httpx.stream(
        "POST", f"{url}/v1/audio/speech", timeout=60,
        json={"model": "default", "input": TEXT, "response_format": "pcm"},
    ) as response:  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/pcm"
        assert response.headers["x-sample-rate"] == "22050"
        assert response.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in response.headers
        parts = list(response.iter_raw())
    assert b"".join(parts) == expected
    assert len(parts) >= 3  # a sentence at a time


def test_wav_streams_with_an_open_length_header_and_decodes(url, engine):
    response = speech(url, response_format="wav")
    assert response.headers["content-type"] == "audio/wav"
    data = response.content
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert data[4:8] == b"\xff\xff\xff\xff" and data[40:44] == b"\xff\xff\xff\xff"
    decoded, rate = sf.read(io.BytesIO(data), dtype="int16")
    expected = encode_audio(engine.synthesize_speech(TEXT), rate, ".raw")
    assert rate == 22050 and decoded.tobytes() == expected


@pytest.mark.parametrize("fmt", ["flac", "mp3", "opus"])
def test_whole_file_formats(url, engine, fmt):
    if fmt not in available_formats():
        assert speech(url, response_format=fmt).status_code == 400
        return
    response = speech(url, response_format=fmt)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(response.content))
    decoded, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    wave = engine.synthesize_speech(TEXT)
    if fmt == "flac":  # lossless: the very samples
        assert rate == 22050
        assert (
            decoded.astype(np.float32).tobytes()
            == sf.read(io.BytesIO(encode_audio(wave, rate, ".flac")), dtype="float32")[0].tobytes()
        )
    else:  # lossy: as long as the engine's audio, at its own rate
        assert rate == (48000 if fmt == "opus" else 22050)
        assert abs(len(decoded) / rate - len(wave) / 22050) < 0.1


def test_speed_is_the_engines_pace(url):
    normal = samples(speech(url, response_format="pcm").content)
    fast = samples(speech(url, response_format="pcm", speed=2.0).content)
    slow = samples(speech(url, response_format="pcm", speed=0.5).content)
    assert 0.4 < len(fast) / len(normal) < 0.7
    assert 1.5 < len(slow) / len(normal) < 2.5


def test_openai_names_and_speaker_ids_map_to_the_voice(url):
    by_name = speech(url, response_format="pcm").content
    assert post(url, model="tts-1", voice="hibari", input=TEXT, response_format="pcm").content == (
        by_name
    )
    assert post(url, model="default", voice="0", input=TEXT, response_format="pcm").content == (
        by_name
    )


# -- OpenAI's client -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(url):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=f"{url}/v1", api_key="not-needed", max_retries=0)


def test_openai_client_create_and_stream(client, engine):
    result = client.audio.speech.create(
        model="default", voice="hibari", input=TEXT, response_format="wav", speed=1.0
    )
    decoded, _ = sf.read(io.BytesIO(result.content), dtype="int16")
    expected = encode_audio(engine.synthesize_speech(TEXT), engine.sample_rate, ".raw")
    assert decoded.tobytes() == expected
    with client.audio.speech.with_streaming_response.create(
        model="default", voice="hibari", input=TEXT, response_format="pcm"
    ) as response:
        streamed = b"".join(response.iter_bytes())
    assert streamed == expected


def test_openai_client_default_format_is_mp3_where_written(client):
    result = client.audio.speech.create(model="tts-1", voice="hibari", input="Hello.")
    assert result.response.headers["content-type"] == (
        "audio/mpeg" if "mp3" in available_formats() else "audio/wav"
    )


def test_openai_client_errors_name_the_field(client):
    import openai

    with pytest.raises(openai.BadRequestError, match="speed") as bad:
        client.audio.speech.create(model="default", voice="hibari", input="Hi.", speed=5.0)
    assert bad.value.body["param"] == "speed"
    with pytest.raises(openai.NotFoundError, match="no voice named 'tts-2'"):
        client.audio.speech.create(model="tts-2", voice="hibari", input="Hi.")
    with pytest.raises(openai.BadRequestError, match="no speaker 'alloy'"):
        client.audio.speech.create(model="default", voice="alloy", input="Hi.")


def events(response: httpx.Response) -> list[dict]:
    lines = [line for line in response.text.split("\n\n") if line.strip()]
    assert all(line.startswith("data: ") for line in lines)
    return [json.loads(line.removeprefix("data: ")) for line in lines]


def test_server_sent_events_carry_the_engines_audio(url, engine):
    response = speech(url, response_format="pcm", stream_format="sse")
    assert response.headers["content-type"].startswith("text/event-stream")
    *deltas, done = events(response)
    assert [d["type"] for d in deltas] == ["speech.audio.delta"] * 3
    assert [d["index"] for d in deltas] == [0, 1, 2]
    assert [d["text"] for d in deltas] == engine.sentences(TEXT)
    audio = b"".join(base64.b64decode(d["audio"]) for d in deltas)
    wave = engine.synthesize_speech(TEXT)
    assert audio == encode_audio(wave, engine.sample_rate, ".raw")
    assert done["type"] == "speech.audio.done" and "usage" in done
    assert done["seconds"] == pytest.approx(len(wave) / engine.sample_rate)
    assert "words" not in deltas[0]


def test_openai_client_reads_the_event_stream(client):
    with client.audio.speech.with_streaming_response.create(
        model="default", voice="hibari", input="Hello.", response_format="wav", stream_format="sse"
    ) as response:
        body = b"".join(response.iter_bytes()).decode()
    first = json.loads(body.split("\n\n")[0].removeprefix("data: "))
    assert base64.b64decode(first["audio"])[:4] == b"RIFF"


def test_speech_controls_reach_the_engine(url, engine):
    controls = {"pitch_shift": 3.0, "energy_scale": 1.5}
    shifted = speech(url, response_format="pcm", **controls).content
    wave = np.concatenate([c.audio for c in engine.synthesize_stream(TEXT, **controls)])
    assert shifted == encode_audio(wave, engine.sample_rate, ".raw")
    plain = speech(url, response_format="pcm").content
    assert shifted != plain
    assert speech(url, response_format="pcm", pitch_shift=0.0, energy_scale=1.0).content == plain


def test_timestamps_come_with_each_sentences_audio(url, engine):
    response = speech(url, response_format="pcm", stream_format="sse", timestamps=True, speed=1.2)
    *deltas, _ = events(response)
    timed = engine.synthesize_timed(TEXT, pace=1.2)
    words = [w for d in deltas for w in d["words"]]
    assert [w["text"] for w in words] == [w.text for w in timed.words]
    assert [w["start"] for w in words] == pytest.approx([w.start for w in timed.words])
    phonemes = [p for d in deltas for p in d["phonemes"]]
    assert [p["symbol"] for p in phonemes] == [p.symbol for p in timed.phonemes]
    assert [p["end"] for p in phonemes] == pytest.approx([p.end for p in timed.phonemes])
    for delta in deltas[1:]:  # seconds into the whole audio: each sentence after the one before
        assert delta["words"][0]["start"] >= delta["start"] > 0


def test_inline_phonemes_are_spoken_and_bad_ones_named(url, engine):
    text = "Say [[ h ə l oʊ ]] to him."
    got = speech(url, text, response_format="pcm").content
    assert got == encode_audio(engine.synthesize_speech(text), engine.sample_rate, ".raw")
    assert got != speech(url, "Say hello to him.", response_format="pcm").content
    bad = speech(url, "Say [[ h ∆ l ]] to him.", response_format="pcm")
    assert bad.status_code == 400 and "∆" in bad.json()["error"]["message"]
    no_leak(bad)


def test_a_lexicon_reaches_every_voice(tmp_path):
    lexicon = tmp_path / "words.tsv"
    lexicon.write_text("tomato\tt ə m ɑː t oʊ\n", encoding="utf-8")
    expected = VoiceInferenceEngine("default", threads=1, lexicon=lexicon)
    wave = expected.synthesize_speech("A tomato.")
    with serving(settings(lexicon=str(lexicon))) as base:
        got = speech(base, "A tomato.", response_format="pcm").content
    assert got == encode_audio(wave, expected.sample_rate, ".raw")


# -- bad input ---------------------------------------------------------------------------------


BAD = [
    ({"model": "default", "voice": "hibari"}, 400, "input"),
    ({"model": "default", "input": "   "}, 400, "input"),
    ({"model": "default", "input": 7}, 400, "input"),
    ({"model": "default", "input": "x" * (MAX_CHARS + 1)}, 400, "input"),
    ({"input": "Hi."}, 400, "model"),
    ({"model": "nobody", "input": "Hi."}, 404, "model"),
    ({"model": "default", "voice": "nobody", "input": "Hi."}, 400, "voice"),
    ({"model": "default", "voice": "1", "input": "Hi."}, 400, "voice"),
    ({"model": "default", "input": "Hi.", "response_format": "aac"}, 400, "response_format"),
    ({"model": "default", "input": "Hi.", "speed": 0.1}, 400, "speed"),
    ({"model": "default", "input": "Hi.", "speed": "fast"}, 400, "speed"),
    ({"model": "default", "input": "Hi.", "speed": True}, 400, "speed"),
    ({"model": "default", "input": "Hi.", "pitch_shift": 30}, 400, "pitch_shift"),
    ({"model": "default", "input": "Hi.", "loudness": 2}, 400, "loudness"),
    ({"model": "default", "input": "Hi.", "stream_format": "ws"}, 400, "stream_format"),
    (
        {"model": "default", "input": "Hi.", "stream_format": "sse", "response_format": "mp3"},
        400,
        "stream_format",
    ),
    ({"model": "default", "input": "Hi.", "timestamps": True}, 400, "timestamps"),
    ({"model": "default", "input": "Hi.", "timestamps": "yes"}, 400, "timestamps"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD)
def test_bad_fields_are_json_errors_naming_the_field(url, body, status, field):
    response = httpx.post(f"{url}/v1/audio/speech", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["param"] == field and error["message"].startswith(f"{field}:")
    no_leak(response)


def test_the_formats_a_bad_format_lists(url):
    message = speech(url, response_format="aac").json()["error"]["message"]
    assert all(name in message for name in available_formats())


@pytest.mark.parametrize(
    ("content", "status", "field"),
    [
        (b"{not json", 400, "body"),
        (b"[1, 2]", 400, "body"),
        (b"\xff\xfe", 400, "body"),
        (b'{"model": "default", "input": "' + b"a" * 70_000 + b'"}', 413, "body"),
    ],
)
def test_bad_bodies(url, content, status, field):
    response = httpx.post(f"{url}/v1/audio/speech", content=content)
    assert response.status_code == status and response.json()["error"]["param"] == field
    no_leak(response)


def test_a_long_body_without_a_length_is_cut_off(url):
    def body() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = httpx.post(f"{url}/v1/audio/speech", content=body())
    assert response.status_code == 413 and "65536 bytes" in response.json()["error"]["message"]


def test_unknown_routes_and_methods_are_json(url):
    for response, status in (
        (httpx.get(f"{url}/v2/nothing"), 404),
        (httpx.get(f"{url}/v1/audio/speech"), 405),
        (httpx.delete(f"{url}/health"), 405),
    ):
        assert response.status_code == status and "error" in response.json()
        no_leak(response)


def test_unexpected_failures_say_nothing_of_the_inside(url, monkeypatch, engine):
    def broken(engine, job):
        raise RuntimeError(f"{ROOT}/secret.py: it broke")
        yield  # a generator

    monkeypatch.setattr(synthesis_module, "sentence_audio", broken)
    response = speech(url)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert "secret" not in response.text
    no_leak(response)
    assert health(url)["active"] == 0


def test_engine_refusals_are_400_without_the_bundles_path(url, monkeypatch, engine):
    from autovoice.inference import InferenceError

    def refuses(engine, job):
        raise InferenceError(f"{engine.bundle.root}: a text has 2000 symbols, more than 1024")
        yield

    monkeypatch.setattr(synthesis_module, "sentence_audio", refuses)
    response = speech(url)
    assert response.status_code == 400
    assert "voice 'default': a text has 2000 symbols" in response.json()["error"]["message"]
    no_leak(response)


# -- load: the queue, the event loop, disconnects ---------------------------------------------


def gated(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Make each job wait at its first sentence until ``go`` is set; ``waiting`` is set while
    one waits."""
    go, waiting = threading.Event(), threading.Event()
    real = synthesis_module.sentence_audio

    def held(engine, job):
        waiting.set()
        assert go.wait(30)
        yield from real(engine, job)

    monkeypatch.setattr(synthesis_module, "sentence_audio", held)
    return go, waiting


def test_a_full_queue_answers_503_with_retry_after_and_health_answers_meanwhile(url, monkeypatch):
    go, waiting = gated(monkeypatch)
    results: list[httpx.Response] = []
    held = [threading.Thread(target=lambda: results.append(speech(url))) for _ in range(QUEUE)]
    for thread in held:
        thread.start()
    try:
        assert waiting.wait(10)
        deadline = time.monotonic() + 10
        while health(url)["active"] < QUEUE and time.monotonic() < deadline:
            time.sleep(0.02)
        assert health(url)["active"] == QUEUE  # the loop answers while synthesis blocks
        refused = speech(url)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["param"] == "model"
        no_leak(refused)
    finally:
        go.set()
        for thread in held:
            thread.join()
    assert [r.status_code for r in results] == [200] * QUEUE
    assert health(url)["active"] == 0
    assert speech(url).status_code == 200  # room again


def slowed(monkeypatch, seconds: float) -> None:
    real = synthesis_module.sentence_audio

    def slow(engine, job):
        for piece in real(engine, job):
            time.sleep(seconds)
            yield piece

    monkeypatch.setattr(synthesis_module, "sentence_audio", slow)


def test_a_client_that_goes_away_stops_its_synthesis(url, monkeypatch):
    slowed(monkeypatch, 0.1)
    before = health(url)["sentences"]
    with httpx.stream(
        "POST", f"{url}/v1/audio/speech", timeout=60,
        json={"model": "default", "input": LONG, "response_format": "pcm"},
    ) as response:  # fmt: skip
        next(response.iter_raw())
    at_disconnect = health(url)["sentences"] - before
    time.sleep(1.0)  # ten more sentences' time
    after = health(url)["sentences"] - before
    assert after - at_disconnect <= 2, (at_disconnect, after)
    assert after < 24
    assert health(url)["active"] == 0


def listener(base: str, text: str, received: list[bytes], started: threading.Event) -> Any:
    """A thread that streams ``text`` as pcm into ``received``, setting ``started`` at the
    first bytes (and at its end, however it ends)."""

    def listen() -> None:
        try:
            with httpx.stream(
                "POST", f"{base}/v1/audio/speech", timeout=60,
                json={"model": "default", "input": text, "response_format": "pcm"},
            ) as response:  # fmt: skip
                for part in response.iter_raw():
                    received.append(part)
                    started.set()
        except httpx.HTTPError:
            pass
        started.set()

    thread = threading.Thread(target=listen)
    thread.start()
    return thread


def test_graceful_shutdown_finishes_requests_in_flight(monkeypatch, engine):
    slowed(monkeypatch, 0.1)
    text = " ".join(f"Sentence {i}." for i in range(8))
    received: list[bytes] = []
    started = threading.Event()
    with serving(settings(shutdown_timeout=30)) as base:
        thread = listener(base, text, received, started)
        assert started.wait(30)
        assert len(received) < 8  # shutdown begins with the request in flight
    thread.join(30)
    expected = encode_audio(engine.synthesize_speech(text), engine.sample_rate, ".raw")
    assert b"".join(received) == expected


def test_shutdown_past_its_timeout_cancels_what_is_left(monkeypatch):
    slowed(monkeypatch, 0.2)
    received: list[bytes] = []
    started = threading.Event()
    with serving(settings(shutdown_timeout=0)) as base:
        thread = listener(base, LONG, received, started)
        assert started.wait(30)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 3  # the rest of 24 sentences would take 4 s
    thread.join(30)
    assert len(received) < 24


# -- the API key -------------------------------------------------------------------------------


def test_api_key_guards_the_api_not_health(monkeypatch):
    from autovoice.server import app as app_module

    compared: list[bytes] = []
    real = app_module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real(a, b)

    monkeypatch.setattr(app_module.hmac, "compare_digest", spy)
    with serving(settings(api_key="s3cret")) as base:
        assert httpx.get(f"{base}/health").status_code == 200
        assert httpx.get(f"{base}/").status_code == 200
        missing = httpx.get(f"{base}/v1/voices")
        wrong = httpx.get(f"{base}/v1/voices", headers={"Authorization": "Bearer s3cre"})
        right = httpx.get(f"{base}/v1/voices", headers={"Authorization": "Bearer s3cret"})
        openai = pytest.importorskip("openai")
        with pytest.raises(openai.AuthenticationError, match="wrong API key"):
            openai.OpenAI(base_url=f"{base}/v1", api_key="nope", max_retries=0).models.list()
        listed = openai.OpenAI(base_url=f"{base}/v1", api_key="s3cret").models.list()
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["param"] == "authorization"
    assert "no API key" in missing.json()["error"]["message"]
    assert right.status_code == 200 and [m.id for m in listed.data] == ["default"]
    assert b"s3cre" in compared  # through hmac.compare_digest, never ==


# -- the command -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_serve_command_runs_warns_beyond_localhost_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, "AUTOVOICE_API_KEY": "k"}
    command = [sys.executable, "-m", "autovoice", "serve", "--host", "0.0.0.0", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                got = httpx.get(
                    f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer k"}
                )
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert got.json()["data"][0]["id"] == "default"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then ends as the signal asks: killed by SIGTERM
    assert "Application shutdown complete" in stderr
    assert process.returncode == -signal.SIGTERM
    assert "warning: listening on 0.0.0.0: other machines can reach this server" in stderr
    assert "without an API key" not in stderr


def test_the_serve_command_names_a_missing_voice_without_a_traceback(tmp_path):
    missing = tmp_path / "no-such-voice"
    done = subprocess.run(
        [sys.executable, "-m", "autovoice", "serve", "--voice", str(missing), "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "no-such-voice" in done.stderr


def test_two_voices_of_one_name_need_a_name(tmp_path):
    from autovoice.errors import AutovoiceError
    from autovoice.server.voices import open_voices

    with pytest.raises(AutovoiceError, match="--voice default: a voice named 'default'"):
        open_voices(settings(voices=("default", "default")))
    table = open_voices(settings(voices=("default", "other=default")))
    assert list(table.voices) == ["default", "other"]
    table.close()


def test_serving_never_imports_torch():
    code = (
        "import sys, httpx\n"
        "from autovoice.server import ServerSettings, serving\n"
        "with serving(ServerSettings(port=0, threads=1, backend='onnxruntime')) as base:\n"
        "    r = httpx.post(base + '/v1/audio/speech', json={'model': 'default', 'input': 'Hi.'})\n"
        "    assert r.status_code == 200, r.text\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
