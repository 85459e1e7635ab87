"""Vocoder heads: each makes audio of the outputs it reads, the inverse STFT undoes the features'
framing, a bundle names its vocoder's head (format 2) or has it inferred (format 1), bad head
fields name the manifest field, and the engine wraps a vocoder stage in its head once.

The voices here need no training: the shipped default voice, and copies of it whose vocoder is a
small ONNX graph built in the test (one matrix product from the mel) ending in each kind of
output. Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autovoice.audio.features import hann_window, stft_magnitude
from autovoice.audio.griffin_lim import griffin_lim, griffin_lim_magnitude
from autovoice.audio.stft import inverse_stft
from autovoice.bundle import MANIFEST, BundleError, VoiceBundle, file_table
from autovoice.config import AudioConfig, ExportConfig
from autovoice.heads import HEADS, HeadError, get_head
from autovoice.inference import VoiceInferenceEngine
from autovoice.inference import engine as engine_module
from autovoice.inference.batching import TAIL_FRAMES
from autovoice.inference.checks import InferenceError
from autovoice.inference.head_stage import HeadSession
from autovoice.signature import (
    MEL_FRAMES,
    GraphSignature,
    magnitude_signature,
    spectrum_signature,
    vocoder_signature,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "autovoice" / "voices" / "default"
AUDIO = AudioConfig()
BINS = AUDIO.n_fft // 2 + 1
TEXT = "Hello there."
HEAD_FIELDS = ("head", "head_options")


def stft(wave: np.ndarray, *, n_fft: int, hop_length: int, win_length: int) -> np.ndarray:
    """The complex STFT ``(..., bins, frames)`` of ``wave`` framed as the features frame it:
    reflect padding of ``(n_fft - hop) // 2`` on both sides, a frame every hop, the periodic
    Hann window of ``win_length`` centred in ``n_fft``, real FFT (float64)."""
    pad = (n_fft - hop_length) // 2
    padded = np.pad(wave, [(0, 0)] * (wave.ndim - 1) + [(pad, pad)], mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop_length, :]
    return np.swapaxes(np.fft.rfft(frames * hann_window(win_length, n_fft), axis=-1), -1, -2)


def istft_head(real: np.ndarray, imag: np.ndarray, audio: AudioConfig) -> np.ndarray:
    head = get_head("istft").bind({}, path="$")
    return head.synthesise({"real": real, "imag": imag}, audio)


# -- the inverse STFT ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_fft", "hop", "win", "samples"),
    [
        (1024, 256, 1024, 40 * 256),  # the default features
        (256, 64, 256, 37 * 64),
        (256, 64, 200, 23 * 64),  # a window shorter than the FFT, centred in it
        (256, 99, 256, 2000),  # n_fft - hop odd: the right padding is one sample short
        (64, 64, 64, 10 * 64),  # no overlap: the window's zero at sample 0 of each frame
    ],
)
def test_the_istft_head_inverts_the_features_framing(n_fft, hop, win, samples):
    rng = np.random.default_rng(n_fft + hop + win)
    wave = rng.uniform(-0.5, 0.5, (2, samples))
    audio = AudioConfig(
        sample_rate=16000, n_fft=n_fft, win_length=win, hop_length=hop, f_max=8000.0
    )
    spectrum = stft(wave, n_fft=n_fft, hop_length=hop, win_length=win)
    magnitude = stft_magnitude(wave, n_fft=n_fft, hop_length=hop, win_length=win)
    np.testing.assert_allclose(np.sqrt(np.abs(spectrum) ** 2 + 1e-9), magnitude, rtol=1e-9)

    real, imag = spectrum.real.astype(np.float32), spectrum.imag.astype(np.float32)
    got = istft_head(real, imag, audio)
    frames = spectrum.shape[-1]
    assert got.dtype == np.float32 and got.shape == (2, frames * hop)
    expected = wave[:, : frames * hop]
    gain = _window_sums(frames, n_fft, hop, win) > 1e-8
    np.testing.assert_allclose(got[:, gain], expected[:, gain], rtol=0, atol=1e-4)
    np.testing.assert_array_equal(got[:, ~gain], 0.0)
    if hop < win:  # the windows overlap: every sample comes back, the edges too
        assert gain.all()
        for edge in (slice(0, hop), slice(-hop, None)):
            assert np.abs(expected[:, edge]).max() > 0.3  # away from nothing
            np.testing.assert_allclose(got[:, edge], expected[:, edge], rtol=0, atol=1e-4)
    np.testing.assert_array_equal(inverse_stft(real[0], imag[0], **_stft(audio)), got[0])


def test_projections_keep_the_magnitude_and_make_the_spectrum_more_nearly_a_waveforms():
    """The istft head's projections: none is the inverse STFT; each makes the waveform's own
    STFT closer to the spectrum's magnitude; a spectrum a waveform has is left as it is."""
    audio = AudioConfig(sample_rate=8000, n_fft=256, win_length=256, hop_length=64, f_max=4000.0)
    rng = np.random.default_rng(4)
    t = np.arange(60 * 64) / 8000
    wave = (0.4 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1300 * t))[None]
    spectrum = stft(wave, **_stft(audio))
    target = np.abs(spectrum)
    noisy = target * np.exp(1j * (np.angle(spectrum) + rng.normal(0, 1.0, spectrum.shape)))
    real, imag = noisy.real.astype(np.float32), noisy.imag.astype(np.float32)

    def bound(projections: int) -> Any:
        return get_head("istft").bind({"projections": projections}, path="$")

    np.testing.assert_array_equal(
        bound(0).synthesise({"real": real, "imag": imag}, audio),
        inverse_stft(real, imag, **_stft(audio)),
    )
    distances = []
    for projections in (0, 1, 4):
        out = bound(projections).synthesise({"real": real, "imag": imag}, audio)
        rebuilt = stft_magnitude(out, **_stft(audio))
        distances.append(np.linalg.norm(rebuilt - target) / np.linalg.norm(target))
    assert distances[0] > 0.3 and distances[1] < 0.8 * distances[0]
    assert distances[2] < distances[1]
    parts = {"real": spectrum.real.astype(np.float32), "imag": spectrum.imag.astype(np.float32)}
    np.testing.assert_allclose(bound(3).synthesise(parts, audio), wave, rtol=0, atol=1e-4)


def test_the_low_band_of_an_stft_is_the_stft_of_that_band_at_a_lower_rate():
    """What band-limited projections rest on: for a signal below ``sample_rate / (2 d)``, the
    lowest ``n_fft / (2 d) + 1`` bins of its STFT are ``d`` times the STFT of its every ``d``-th
    sample, framed at ``n_fft / d`` points every ``hop / d`` with the decimated window."""
    from autovoice.audio.griffin_lim import decimated_window

    rng = np.random.default_rng(7)
    framing = {"n_fft": 256, "hop_length": 64, "win_length": 256}
    t = np.arange(40 * 64) / 8000
    wave = sum(rng.uniform(0.1, 0.3) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in
               (130.0, 310.0, 570.0, 820.0))  # fmt: skip
    full = stft(wave, **framing)
    window = decimated_window(4, **framing)
    np.testing.assert_array_equal(window, hann_window(64, 64))
    low = stft(wave[::4], n_fft=64, hop_length=16, win_length=64)
    edge = 6  # the ends, where the reflect padding differs at the two rates
    got, want = full[:33, edge:-edge], 4 * low[:, edge:-edge]
    assert np.abs(got - want).max() < 1e-3 * np.abs(want).max()


def test_band_limited_projections_search_the_low_band_and_keep_the_rest():
    """``projection_decimation``: the projections bring the STFT of the waveform closer to the
    magnitude below the band's top as full ones do; above it the waveform is the plain inverse
    STFT's; a spectrum a waveform has is kept."""
    audio = AudioConfig(sample_rate=8000, n_fft=256, win_length=256, hop_length=64, f_max=4000.0)
    rng = np.random.default_rng(5)
    t = np.arange(80 * 64) / 8000
    wave = (0.4 * np.sin(2 * np.pi * 220 * t) + 0.3 * np.sin(2 * np.pi * 470 * t)
            + 0.2 * np.sin(2 * np.pi * 2300 * t))[None]  # fmt: skip
    spectrum = stft(wave, **_stft(audio))
    target = np.abs(spectrum)
    noisy = target * np.exp(1j * (np.angle(spectrum) + rng.normal(0, 1.0, spectrum.shape)))
    real, imag = noisy.real.astype(np.float32), noisy.imag.astype(np.float32)

    def run(parts: dict[str, np.ndarray], **options: Any) -> np.ndarray:
        head = get_head("istft").bind({"projection_momentum": 0.99, **options}, path="$")
        out: np.ndarray = head.synthesise(parts, audio)
        return out

    noisy_parts = {"real": real, "imag": imag}
    plain = run(noisy_parts, projections=0)
    banded = run(noisy_parts, projections=16, projection_decimation=4)
    whole = run(noisy_parts, projections=16)
    low = slice(0, 24)  # below 75% of the band's top (bin 32 of 129: 1 kHz)

    def distance(out: np.ndarray, bins: slice) -> float:
        rebuilt = stft_magnitude(out, **_stft(audio))[0, bins]
        return float(np.linalg.norm(rebuilt - target[0, bins]) / np.linalg.norm(target[0, bins]))

    assert distance(banded, low) < 0.2 * distance(plain, low)  # measured 0.06 against 0.40
    assert distance(whole, low) < distance(banded, low) < 3 * distance(whole, low)
    changed = stft(banded - plain, **_stft(audio))[0, :, 4:-4]  # away from the reflected ends
    assert np.abs(changed[40:]).max() < 1e-3 * np.abs(spectrum[0, 40:]).max()
    assert np.abs(changed[low]).max() > 0.1 * np.abs(spectrum[0, low]).max()
    exact = {"real": spectrum.real.astype(np.float32), "imag": spectrum.imag.astype(np.float32)}
    kept = run(exact, projections=8, projection_decimation=4)
    np.testing.assert_allclose(kept, wave, rtol=0, atol=1e-3)  # the ends included


def _window_sums(frames: int, n_fft: int, hop: int, win: int) -> np.ndarray:
    """The summed squared window under each output sample, one frame at a time (float64)."""
    pad = (n_fft - hop) // 2
    total = np.zeros((frames - 1) * hop + n_fft)
    for t in range(frames):
        total[t * hop : t * hop + n_fft] += hann_window(win, n_fft).astype(np.float64) ** 2
    return total[pad : pad + frames * hop]


def _stft(audio: AudioConfig) -> dict[str, int]:
    return {"n_fft": audio.n_fft, "hop_length": audio.hop_length, "win_length": audio.win_length}


def test_a_window_with_gaps_gives_silence_in_them():
    """win_length 64 in a 256-point frame every 128 samples leaves samples no window covers
    (no voice's audio settings allow this: hop_length <= win_length)."""
    framing = {"n_fft": 256, "hop_length": 128, "win_length": 64}
    wave = np.random.default_rng(3).uniform(-0.5, 0.5, 20 * 128)
    spectrum = stft(wave, **framing)
    got = inverse_stft(spectrum.real, spectrum.imag, **framing)
    covered = _window_sums(spectrum.shape[-1], 256, 128, 64) > 1e-8
    assert 0 < covered.mean() < 1
    np.testing.assert_array_equal(got[~covered], 0.0)
    np.testing.assert_allclose(got[covered], wave[covered], atol=1e-4)


@pytest.mark.parametrize(
    ("real", "imag", "says"),
    [
        (np.zeros((1, BINS - 1, 4)), np.zeros((1, BINS - 1, 4)), "real: expected"),
        (np.zeros((1, BINS, 4)), np.zeros((1, BINS, 5)), "shapes differ"),
        (np.zeros((1, BINS, 4)), np.full((1, BINS, 4), np.nan), "imag: holds NaN"),
        (np.zeros((BINS, 4)), np.zeros((BINS, 4)), r"'real' must be \(batch"),
    ],
)
@pytest.mark.parametrize("projections", [0, 2])
def test_the_istft_head_refuses_what_is_no_spectrum(real, imag, says, projections):
    head = get_head("istft").bind({"projections": projections}, path="$")
    with pytest.raises(HeadError, match=says):
        head.synthesise({"real": real, "imag": imag}, AUDIO)


# -- the other heads ----------------------------------------------------------------------------


def test_the_registry_names_what_each_head_reads():
    assert {name: head.reads for name, head in HEADS.items()} == {
        "waveform": ("audio",),
        "griffin_lim": ("magnitude",),
        "istft": ("real", "imag"),
        "mel_griffin_lim": ("mel",),
    }
    assert [h.name for h in HEADS.values() if not h.graph] == ["mel_griffin_lim"]
    assert {h.name: h.log_compared for h in HEADS.values() if h.log_compared} == {
        "griffin_lim": ("magnitude",),
        "istft": ("magnitude",),  # of its views: the spectrum's magnitude and waveform
    }
    assert get_head("istft").missing(spectrum_signature(80, 1024).output_names) == []
    assert get_head("istft").missing(vocoder_signature(80).output_names) == ["real", "imag"]
    with pytest.raises(HeadError, match=r"\$\.x: unknown head 'istf'; did you mean 'istft'\?"):
        get_head("istf", path="$.x")
    with pytest.raises(HeadError, match="expected a head name"):
        get_head(3)


def test_head_options_are_checked():
    gl = get_head("griffin_lim")
    assert gl.bind({}, path="$").table == {
        "iterations": 32,
        "momentum": 0.99,
        "seed": 0,
        "init": "random",
    }
    with pytest.raises(HeadError, match=r"\$\.o\.iterations: must be >= 0"):
        gl.bind({"iterations": -1}, path="$.o")
    with pytest.raises(HeadError, match=r"\$\.o\.iters: unknown"):
        gl.bind({"iters": 3}, path="$.o")
    with pytest.raises(HeadError, match=r"\$\.o: expected a table"):
        gl.bind([1], path="$.o")  # type: ignore[arg-type]
    with pytest.raises(HeadError, match=r"\$\.o: head 'waveform' takes no options"):
        get_head("waveform").bind({"seed": 1}, path="$.o")
    istft = get_head("istft")
    assert istft.bind({}, path="$").table == {
        "projections": 0,
        "projection_momentum": 0.0,
        "projection_decimation": 1,
    }
    with pytest.raises(HeadError, match=r"\$\.o\.projection_decimation: must be >= 1"):
        istft.bind({"projection_decimation": 0}, path="$.o")
    with pytest.raises(HeadError, match=r"\$\.o\.projection_momentum: must be in \[0, 1\)"):
        istft.bind({"projection_momentum": 1.0}, path="$.o")
    with pytest.raises(HeadError, match=r"\$\.o\.projections: must be >= 0"):
        istft.bind({"projections": -1}, path="$.o")
    with pytest.raises(HeadError, match=r"\$\.o\.seed: unknown"):
        istft.bind({"seed": 1}, path="$.o")


def test_a_head_checks_its_options_against_the_voices_framing():
    """Band-limited projections need a framing that decimates: the bound head says which
    option does not suit the voice, naming where its options are."""
    audio = AudioConfig(sample_rate=8000, n_fft=256, win_length=256, hop_length=64, f_max=4000.0)
    istft = get_head("istft")
    istft.bind({"projections": 4, "projection_decimation": 8}, path="$").check(audio, path="$.v")
    odd = istft.bind({"projections": 4, "projection_decimation": 3}, path="$")
    with pytest.raises(HeadError, match=r"\$\.v\.projection_decimation: 3 does not divide"):
        odd.check(audio, path="$.v")
    narrow = AudioConfig(sample_rate=8000, n_fft=256, win_length=200, hop_length=64, f_max=4000.0)
    with pytest.raises(HeadError, match=r"projection_decimation: 8 does not divide"):
        istft.bind({"projection_decimation": 8}, path="$").check(narrow, path="$.v")
    get_head("griffin_lim").bind({}, path="$").check(narrow, path="$.v")  # nothing to check


def test_waveform_and_griffin_lim_heads():
    audio = AudioConfig(sample_rate=8000, n_fft=256, win_length=256, hop_length=64, f_max=4000.0)
    wave = np.random.default_rng(0).uniform(-1, 1, (2, 640))
    out = get_head("waveform").bind({}, path="$").synthesise({"audio": wave}, audio)
    assert out.dtype == np.float32 and np.array_equal(out, wave.astype(np.float32))
    with pytest.raises(HeadError, match=r"'audio' must be \(batch, samples\)"):
        get_head("waveform").bind({}, path="$").synthesise({"audio": wave[0]}, audio)

    magnitude = stft_magnitude(wave, **_stft(audio)).astype(np.float32)
    magnitude[0, 0, 0] = -1.0  # a graph's rounding below zero counts as zero
    head = get_head("griffin_lim").bind({"iterations": 3, "seed": 5}, path="$")
    got = head.synthesise({"magnitude": magnitude}, audio)
    expected = griffin_lim_magnitude(
        np.maximum(magnitude, 0), **_stft(audio), iterations=3, rng=np.random.default_rng(5)
    )
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(head.synthesise({"magnitude": magnitude}, audio), got)

    mel = np.random.default_rng(1).normal(-4, 1, (1, audio.n_mels, 9)).astype(np.float32)
    head = get_head("mel_griffin_lim").bind({"iterations": 2}, path="$")
    np.testing.assert_array_equal(
        head.synthesise({"mel": mel}, audio),
        griffin_lim(mel, audio, iterations=2, rng=np.random.default_rng(0)),
    )


class FrameGraph:
    """A stand-in graph runner: a magnitude made of each mel frame alone, and what it was fed."""

    def __init__(self) -> None:
        self.fed: list[dict[str, np.ndarray]] = []

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.fed.append(dict(inputs))
        mel = inputs["mel"]
        bins = SMALL.n_fft // 2 + 1
        magnitude = np.exp(np.repeat(mel[:, :1], bins, axis=1)) * 0.5
        phase = np.repeat(mel[:, 1:2], bins, axis=1) * np.arange(1, bins + 1)[:, None]
        return {
            "magnitude": magnitude,
            "real": magnitude * np.cos(phase),
            "imag": magnitude * np.sin(phase),
        }


SMALL = AudioConfig(sample_rate=8000, n_fft=256, win_length=256, hop_length=64, f_max=4000.0)


PER_ITEM = {
    "griffin_lim": {"iterations": 4},
    "mel_griffin_lim": {"iterations": 4},
    "istft": {"projections": 4, "projection_momentum": 0.9},
}
"""Heads that run item by item, with options that make them so."""


def test_the_istft_head_runs_item_by_item_when_it_projects():
    assert not get_head("istft").bind({}, path="$").per_item
    assert get_head("istft").bind(PER_ITEM["istft"], path="$").per_item
    assert get_head("griffin_lim").bind({"iterations": 0}, path="$").per_item
    assert not get_head("waveform").bind({}, path="$").per_item


@pytest.mark.parametrize("name", sorted(PER_ITEM))
@pytest.mark.parametrize("workers", [1, 2])
def test_given_each_items_frames_the_stage_gives_each_item_what_it_gets_alone(name, workers):
    graph = FrameGraph() if name != "mel_griffin_lim" else None
    head = get_head(name).bind(PER_ITEM[name], path="$")
    session = HeadSession(graph, head, SMALL, "vocoder stage", workers)
    mel = np.random.default_rng(3).normal(-3.0, 1.0, (3, SMALL.n_mels, 40)).astype(np.float32)
    frames = np.array([25, 40, 9], np.int64)
    got = session.run({"mel": mel, MEL_FRAMES: frames})["audio"]
    assert got.shape == (3, 40 * SMALL.hop_length)
    if graph is not None:  # the graph saw each item's own frames, and never the frames input
        assert sorted(f["mel"].shape[-1] for f in graph.fed) == [9, 25, 40]
        assert all(set(f) == {"mel"} for f in graph.fed)
    hop = SMALL.hop_length
    for item, n in enumerate(frames.tolist()):
        alone = session.run({"mel": mel[item : item + 1, :, :n]})["audio"][0]
        np.testing.assert_array_equal(got[item, : n * hop], alone)
        assert not got[item, n * hop :].any()
    whole = session.run({"mel": mel})["audio"]  # without frames: the padded batch as is
    assert not np.array_equal(whole[2, : 9 * hop], got[2, : 9 * hop])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_runs_items_side_by_side_on_threads_of_its_own():
    head = get_head("mel_griffin_lim").bind({"iterations": 2}, path="$")
    session = HeadSession(None, head, SMALL, "vocoder stage", 2)
    feed = {"mel": np.full((2, SMALL.n_mels, 8), -4.0, np.float32), MEL_FRAMES: np.array([8, 5])}
    expected = session.run(feed)["audio"]  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # the child: a pool of the parent's would never run the items
        signal.signal(signal.SIGALRM, lambda *_: os._exit(2))
        signal.alarm(30)
        same = np.array_equal(session.run(feed)["audio"], expected)
        os._exit(0 if same else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_head_that_takes_the_batch_whole_ignores_the_frames():
    wave = np.random.default_rng(0).uniform(-1, 1, (2, 640)).astype(np.float32)

    class WaveGraph:
        def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            assert set(inputs) == {"mel"} and inputs["mel"].shape[0] == 2
            return {"audio": wave}

    session = HeadSession(WaveGraph(), get_head("waveform").bind({}, path="$"), SMALL, "v", 2)
    mel = np.zeros((2, SMALL.n_mels, 10), np.float32)
    out = session.run({"mel": mel, MEL_FRAMES: np.array([3, 10])})["audio"]
    np.testing.assert_array_equal(out, wave)


@pytest.mark.parametrize(
    "frames", [np.array([3, 4]), np.array([[3], [4], [5]]), np.array([1.5, 2.0, 3.0])]
)
def test_item_frames_that_do_not_fit_the_batch_are_refused(frames):
    head = get_head("mel_griffin_lim").bind({"iterations": 1}, path="$")
    session = HeadSession(None, head, SMALL, "vocoder stage (griffin_lim)")
    mel = np.zeros((3, SMALL.n_mels, 6), np.float32)
    with pytest.raises(InferenceError, match=r"^vocoder stage \(griffin_lim\): 'mel_frames' must"):
        session.run({"mel": mel, MEL_FRAMES: frames})


def test_the_engine_tells_the_stage_each_items_frames_and_keeps_them_from_the_graph():
    texts = ["Hi.", "The kettle clicked off just as the phone began to ring.", "Well, then."]
    voice = VoiceInferenceEngine(SHIPPED, backend="onnxruntime", threads=2)
    session = voice.stages["vocoder"].session
    seen: list[Any] = []
    head = session.head

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(head, name)

        def synthesise(self, values: Any, audio: Any, *, workers: int = 1) -> Any:
            seen.append(dict(values))
            threads.append(workers)
            return head.synthesise(values, audio, workers=workers)

    threads: list[int] = []
    session.head = Recording()
    voice.synthesize_batch(texts[1:2])  # one item: its Griffin-Lim may use both threads
    assert threads == [2]
    seen.clear(), threads.clear()
    waves = voice.synthesize_batch(texts)  # the graph would refuse an input it does not take
    assert threads == [1, 1, 1]  # several items: a thread each
    assert [v["real"].shape[0] for v in seen] == [1, 1, 1]  # the istft head, projecting
    frames = sorted(v["real"].shape[-1] for v in seen)
    hop = voice.hop_length
    assert frames == sorted(len(w) // hop + TAIL_FRAMES for w in waves)


# -- voices: a graph made in the test, ending in each kind of output ----------------------------


WEIGHT_SEED = 7


def _weights(rows: int, n_mels: int, scale: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((rows, n_mels)) * scale).astype(np.float32)


def vocoder_graph(kind: str, path: Path) -> GraphSignature:
    """Write a vocoder graph of ``kind`` (``waveform``, ``magnitude`` or ``spectrum``) to
    ``path``: one fixed matrix product from the mel (:func:`graph_outputs` in numpy)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_mels, hop = AUDIO.n_mels, AUDIO.hop_length
    mel = helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["batch", n_mels, "frames"])
    nodes, inits = [], []
    if kind == "waveform":
        signature = vocoder_signature(n_mels)
        inits = [
            numpy_helper.from_array(_weights(hop, n_mels, 0.01, WEIGHT_SEED).T.copy(), "w"),
            numpy_helper.from_array(np.array([0, -1], np.int64), "shape"),
        ]
        nodes = [
            helper.make_node("Transpose", ["mel"], ["t"], perm=[0, 2, 1]),
            helper.make_node("MatMul", ["t", "w"], ["frames"]),
            helper.make_node("Reshape", ["frames", "shape"], ["audio"]),
        ]
    elif kind == "magnitude":
        signature = magnitude_signature(n_mels, AUDIO.n_fft)
        inits = [numpy_helper.from_array(_weights(BINS, n_mels, 0.01, WEIGHT_SEED), "w")]
        nodes = [
            helper.make_node("MatMul", ["w", "mel"], ["log"]),
            helper.make_node("Exp", ["log"], ["magnitude"]),
        ]
    else:
        signature = spectrum_signature(n_mels, AUDIO.n_fft)
        for seed, name in enumerate(("real", "imag"), start=WEIGHT_SEED):
            inits.append(numpy_helper.from_array(_weights(BINS, n_mels, 0.01, seed), f"w_{name}"))
            nodes.append(helper.make_node("MatMul", [f"w_{name}", "mel"], [name]))
    outputs = [
        helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.shape))
        for t in signature.outputs
    ]
    graph = helper.make_graph(nodes, "vocoder", [mel], outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return signature


def graph_outputs(kind: str, mel: np.ndarray) -> dict[str, np.ndarray]:
    """What :func:`vocoder_graph`'s graph of ``kind`` outputs for ``mel``, in numpy."""
    n_mels, hop = AUDIO.n_mels, AUDIO.hop_length
    if kind == "waveform":
        frames = np.swapaxes(mel, 1, 2) @ _weights(hop, n_mels, 0.01, WEIGHT_SEED).T
        return {"audio": frames.reshape(mel.shape[0], -1)}
    if kind == "magnitude":
        return {"magnitude": np.exp(_weights(BINS, n_mels, 0.01, WEIGHT_SEED) @ mel)}
    return {
        name: _weights(BINS, n_mels, 0.01, seed) @ mel
        for seed, name in enumerate(("real", "imag"), start=WEIGHT_SEED)
    }


def copy_voice(target: Path) -> dict[str, Any]:
    """The shipped voice copied to ``target``; its manifest."""
    shutil.copytree(SHIPPED, target)
    return json.loads((target / MANIFEST).read_text())


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    names = [p.name for p in root.iterdir() if p.name != MANIFEST]
    manifest = {**manifest, "files": file_table(root, names)}
    (root / MANIFEST).write_text(json.dumps(manifest))
    return root


GRAPH_HEADS = {"waveform": "waveform", "magnitude": "griffin_lim", "spectrum": "istft"}
"""The kind of graph output -> the head that makes audio of it."""


def graph_voice(root: Path, kind: str, head_options: dict[str, Any] | None = None) -> Path:
    """A format 2 copy of the shipped voice whose vocoder is :func:`vocoder_graph`'s ``kind``."""
    manifest = copy_voice(root)
    signature = vocoder_graph(kind, root / "vocoder.onnx")
    (root / "vocoder.safetensors").write_bytes(b"not read by onnxruntime")
    manifest["format_version"] = 2
    manifest["vocoder"] = {
        "plugin": f"test_{kind}",
        "options": {},
        "onnx": "vocoder.onnx",
        "weights": "vocoder.safetensors",
        "signature": signature.to_dict(),
        "opset": 17,
        "head": GRAPH_HEADS[kind],
        "head_options": head_options or {},
    }
    return write_manifest(root, manifest)


def engine(voice: Path, **kwargs: Any) -> VoiceInferenceEngine:
    return VoiceInferenceEngine(voice, backend="onnxruntime", threads=1, **kwargs)


@pytest.fixture
def counted_wraps(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every head the engine wraps a stage in, as it wraps them."""
    wrapped: list[Any] = []
    real = engine_module.with_head

    def counting(graph: Any, head: Any, context: Any, **settings: Any) -> Any:
        wrapped.append((graph, head))
        return real(graph, head, context, **settings)

    monkeypatch.setattr(engine_module, "with_head", counting)
    return wrapped


@pytest.mark.parametrize(
    ("kind", "backend", "options"),
    [
        ("waveform", "onnxruntime", {}),
        ("magnitude", "onnxruntime+griffin_lim", {"iterations": 4, "seed": 3}),
        ("spectrum", "onnxruntime+istft", {}),
    ],
)
def test_the_engine_wraps_the_graph_in_its_head_once(
    tmp_path, counted_wraps, kind, backend, options
):
    pytest.importorskip("onnxruntime")
    voice = graph_voice(tmp_path / "voice", kind, options)
    stage_info = VoiceBundle.open(voice).stage("vocoder")
    assert stage_info.head == GRAPH_HEADS[kind]
    voiced = engine(voice)
    assert voiced.backends == {"acoustic": "onnxruntime", "vocoder": backend}
    assert len(counted_wraps) == 1  # the vocoder, once; the acoustic stage has no head
    runner = voiced.stages["vocoder"]
    assert isinstance(runner.session, HeadSession) and runner.session.graph is not None
    assert not isinstance(runner.session.graph.session, HeadSession)
    assert runner.context.signature == vocoder_signature(AUDIO.n_mels)
    assert runner.session.graph.context.signature == stage_info.signature

    mel = np.random.default_rng(2).normal(-4, 1.5, (2, AUDIO.n_mels, 11)).astype(np.float32)
    got = runner.run({"mel": mel})["audio"]
    assert got.shape == (2, 11 * AUDIO.hop_length) and got.dtype == np.float32
    head = get_head(GRAPH_HEADS[kind]).bind(options, path="$")
    expected = head.synthesise(graph_outputs(kind, mel.astype(np.float64)), AUDIO)
    scale = float(np.abs(expected).max())
    assert scale > 0
    np.testing.assert_allclose(got, expected, atol=1e-4 * max(scale, 1.0))
    wave = voiced.synthesize_speech(TEXT)
    assert wave.dtype == np.float32 and wave.size % AUDIO.hop_length == 0


def test_griffin_lim_on_request_opens_no_graph(tmp_path, counted_wraps):
    pytest.importorskip("onnxruntime")
    voice = graph_voice(tmp_path / "voice", "magnitude", {"iterations": 4})
    plain = engine(voice, vocoder="griffin_lim")
    assert plain.backends == {"acoustic": "onnxruntime", "vocoder": "griffin_lim"}
    runner = plain.stages["vocoder"]
    assert runner.session.graph is None and (runner.artifact, runner.device) == ("numpy", "cpu")
    assert runner.session.head.head.name == "mel_griffin_lim"
    assert runner.session.head.options.iterations == 32  # the defaults, not griffin_lim's 4
    assert len(counted_wraps) == 1


# -- format 1 and format 2 of the shipped voice -------------------------------------------------


def as_format(manifest: dict[str, Any], version: int, bundle: VoiceBundle) -> dict[str, Any]:
    """``manifest`` in exact format ``version`` form: format 1 has no head fields, format 2
    names the head the loader found and its options."""
    vocoder = {k: v for k, v in manifest["vocoder"].items() if k not in HEAD_FIELDS}
    if version == 2:
        stage = bundle.stage("vocoder")
        vocoder = {**vocoder, "head": stage.head, "head_options": dict(stage.head_options)}
    return {**manifest, "format_version": version, "vocoder": vocoder}


@pytest.mark.slow
def test_the_shipped_voice_speaks_alike_as_format_1_and_format_2(tmp_path):
    pytest.importorskip("onnxruntime")
    manifest = copy_voice(tmp_path / "shipped")
    shipped = VoiceBundle.open(tmp_path / "shipped")
    waves = {}
    for version in (1, 2):
        root = tmp_path / f"v{version}"
        shutil.copytree(tmp_path / "shipped", root)
        (root / MANIFEST).write_text(json.dumps(as_format(manifest, version, shipped)))
        bundle = VoiceBundle.open(root)
        written = json.loads((root / MANIFEST).read_text())
        assert written["format_version"] == version
        assert all((k in written["vocoder"]) == (version == 2) for k in HEAD_FIELDS)
        stage = bundle.stage("vocoder")
        assert (stage.head, stage.head_options) == (
            shipped.stage("vocoder").head,
            shipped.stage("vocoder").head_options,
        )
        waves[version] = engine(root).synthesize_speech(TEXT)
    assert waves[1].size > 0 and np.abs(waves[1]).max() > 0
    np.testing.assert_array_equal(waves[1], waves[2])
    if manifest["vocoder"]["plugin"] == "magnitude_gl":  # the voice shipped in format 1
        stage = shipped.stage("vocoder")
        assert stage.head == "griffin_lim"
        gl = {k: manifest["vocoder"]["options"][k] for k in ("iterations", "momentum", "seed")}
        assert stage.head_options == {**gl, "init": "random"}  # a format-1 voice starts at random


# -- bad manifests ------------------------------------------------------------------------------


def _voice_with(tmp_path: Path, vocoder: dict[str, Any], version: int = 2) -> Path:
    root = graph_voice(tmp_path / "voice", "spectrum")
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["vocoder"] = {**manifest["vocoder"], **vocoder}
    manifest["vocoder"] = {k: v for k, v in manifest["vocoder"].items() if v is not None}
    (root / MANIFEST).write_text(json.dumps({**manifest, "format_version": version}))
    return root


@pytest.mark.parametrize(
    ("vocoder", "says"),
    [
        ({"head": None}, r"\$\.vocoder\.head: missing"),
        ({"head": 3}, r"\$\.vocoder\.head: expected str"),
        ({"head": "istf"}, r"\$\.vocoder\.head: unknown head 'istf'; did you mean 'istft'"),
        ({"head_options": [1]}, r"\$\.vocoder\.head_options: expected dict"),
        ({"head_options": {"seed": 1}}, r"\$\.vocoder\.head_options\.seed: unknown"),
        ({"head": "griffin_lim"}, r"\$\.vocoder\.signature: head 'griffin_lim' reads 'magnitude'"),
        (
            {"head": "mel_griffin_lim", "head_options": {"momentum": 1.5}},
            r"\$\.vocoder\.head_options\.momentum",
        ),
        (
            {"head_options": {"projections": 4, "projection_decimation": 3}},
            r"\$\.vocoder\.head_options\.projection_decimation: 3 does not divide the framing",
        ),
    ],
)
def test_bad_head_fields_name_the_manifest_field(tmp_path, vocoder, says):
    with pytest.raises(BundleError, match=says) as info:
        VoiceBundle.open(_voice_with(tmp_path, vocoder))
    assert "manifest.json: $.vocoder." in str(info.value)


def test_a_format_1_graph_whose_outputs_no_head_reads_is_an_error(tmp_path):
    odd = GraphSignature.from_dict(
        {**vocoder_signature(80).to_dict(), "outputs": [{"name": "wave", "dtype": "float32",
                                                           "shape": ["batch", "samples"]}]}
    )  # fmt: skip
    root = _voice_with(
        tmp_path, {"head": None, "head_options": None, "signature": odd.to_dict()}, 1
    )
    says = r"\$\.vocoder\.signature: no head makes audio of outputs wave"
    with pytest.raises(BundleError, match=says):
        VoiceBundle.open(root)


def test_an_export_sets_the_head_options_of_a_kept_vocoder(tmp_path):
    """``--set vocoder.head_options.NAME=VALUE``: a voice's vocoder stage, kept, with its head
    run otherwise; the options are checked as a bundle's, naming the option."""
    from autovoice.export.bundle_writer import export_settings, head_overrides, keep_vocoder
    from autovoice.export.errors import ExportError

    voice = graph_voice(tmp_path / "voice", "spectrum", {"projections": 2})
    sets = ["vocoder.head_options.projections=48", "vocoder.head_options.projection_decimation=8"]
    assert head_overrides([*sets, "export.validate=false"]) == {
        "projections": 48,
        "projection_decimation": 8,
    }
    assert not export_settings(ExportConfig(), [*sets, "export.validate=false"]).validate
    with pytest.raises(ExportError, match=r"--set vocoder\.options\.x=1: only export\.\*"):
        export_settings(ExportConfig(), ["vocoder.options.x=1"])
    kept = keep_vocoder(voice, head_options=head_overrides(sets))
    assert kept.entry["head_options"] == {
        "projections": 48,
        "projection_momentum": 0.0,
        "projection_decimation": 8,
    }
    assert kept.entry["signature"] == keep_vocoder(voice).entry["signature"]
    with pytest.raises(ExportError, match=r"\$\.vocoder\.head_options\.projection_decimation: 3"):
        keep_vocoder(voice, head_options={"projection_decimation": 3})
    with pytest.raises(ExportError, match=r"\$\.vocoder\.head_options\.iterations: unknown"):
        keep_vocoder(voice, head_options={"iterations": 3})


def test_a_format_1_spectrum_graph_reads_as_istft(tmp_path):
    root = _voice_with(tmp_path, {"head": None, "head_options": None}, version=1)
    stage = VoiceBundle.open(root).stage("vocoder")
    defaults = {"projections": 0, "projection_momentum": 0.0, "projection_decimation": 1}
    assert (stage.head, stage.head_options) == ("istft", defaults)


# -- the guides ---------------------------------------------------------------------------------


def _section(page: str, start: str, end: str) -> str:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return text[text.index(start) : text.index(end, text.index(start))]


def test_the_plugin_guides_vocoder_declares_a_head_that_reads_its_graph():
    section = _section(
        "plugins.md", "### `autovoice_vocoders`", "### `autovoice_checkpoint_stores`"
    )
    code = section.split("```python\n")[1].split("```")[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/plugins.md", "exec"), namespace)
    (spec,) = namespace["autovoice_vocoders"]()
    assert spec.head == "istft" and "spectrum_signature" in code
    assert get_head(spec.head).missing(spectrum_signature(80, 1024).output_names) == []


def test_the_export_guide_lists_every_head():
    section = _section("export.md", "### Vocoder heads", "**Format 1**")
    assert all(f"| `{name}` |" in section for name in HEADS)
