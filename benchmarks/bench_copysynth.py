"""Copy-synthesis: how well each vocoder remakes held-out teacher audio from its log-mel.

The teacher (``hibari-tts``) reads the held-out sentences (``autovoice/corpus/heldout.txt``,
never in a training corpus), and each recording is prepared exactly as the distilled corpus'
audio is (trimmed, resampled to the voice's rate, peak 0.9). Every vocoder then makes a waveform
from that recording's log-mel (the voice's features), and the result is scored against the
recording:

- PESQ wideband (ITU-T P.862.2, the ``pesq`` package; both signals resampled to 16 kHz with
  soxr): 1 to 4.64, higher is better;
- multi-resolution STFT distance: spectral convergence plus the mean absolute difference of the
  log magnitudes, averaged over FFT sizes 512, 1024 and 2048 (hops of a quarter): 0 is a
  perfect match;
- phase distance: the magnitude-weighted anti-wrapped error of the STFT phase's differences
  along time (instantaneous frequency) and along frequency (group delay), averaged, in radians
  (the voice's framing: the vocoders are frame-synchronous, so frames line up): 0 is the
  recording's phase structure, about pi/2 one unrelated to it;
- the vocoder's real-time factor on these clips (its stage, head included).

Vocoders: the benchmarked voice's own (on ONNX Runtime); Griffin-Lim from the mel (the
``mel_griffin_lim`` head, 32 iterations); Griffin-Lim from the recording's true linear magnitude
(a reference: how far phase retrieval alone gets); and every voice bundle named in
``AUTOVOICE_BENCH_VOCODERS`` (``label=path,label=path``: a previous default voice, a HiFi-GAN
V2 voice) on ONNX Runtime. A vocoder that is not given gets no row. ``--quick`` reads 12
sentences instead of all 60.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks._common import bench_threads, labelled_paths, markdown_table
from benchmarks._voice import bench_voice

Wave = npt.NDArray[np.float32]
Vocode = Callable[[np.ndarray], np.ndarray]
"""``(1, n_mels, frames)`` log-mel to a ``(1, frames * hop)`` waveform."""
VOCODERS_ENV = "AUTOVOICE_BENCH_VOCODERS"
QUICK_SENTENCES = 12
PESQ_RATE = 16000
RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))


# -- scores -------------------------------------------------------------------------------------


def _stft(wave: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``(frames, bins)`` complex STFT with a periodic Hann window, reflect-padded by half a
    window (a measuring STFT, independent of any voice's framing)."""
    padded = np.pad(np.asarray(wave, np.float64), n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    return np.fft.rfft(frames * window, axis=-1)


def stft_distance(wave: np.ndarray, reference: np.ndarray) -> float:
    """Spectral convergence + mean |log magnitude difference|, averaged over the resolutions."""
    n = min(len(wave), len(reference))
    total = 0.0
    for n_fft, hop in RESOLUTIONS:
        ours = np.abs(_stft(wave[:n], n_fft, hop))
        theirs = np.abs(_stft(reference[:n], n_fft, hop))
        convergence = np.linalg.norm(theirs - ours) / max(float(np.linalg.norm(theirs)), 1e-12)
        logs = np.abs(np.log(np.maximum(ours, 1e-5)) - np.log(np.maximum(theirs, 1e-5)))
        total += float(convergence) + float(logs.mean())
    return total / len(RESOLUTIONS)


def _wrapped(x: np.ndarray) -> np.ndarray:
    return np.abs(x - 2 * np.pi * np.round(x / (2 * np.pi)))


def phase_distance(wave: np.ndarray, reference: np.ndarray, n_fft: int, hop: int) -> float:
    """The mean of two magnitude-weighted anti-wrapped errors (radians) at ``n_fft``/``hop``:
    of the phase's difference along time (instantaneous frequency) and along frequency (group
    delay). Differences, not the phase itself: a waveform's absolute phase is arbitrary (a
    delay of a fraction of a sample changes it everywhere and is inaudible), its differences
    are what make a harmonic a steady tone."""
    n = min(len(wave), len(reference))
    ours, theirs = np.angle(_stft(wave[:n], n_fft, hop)), _stft(reference[:n], n_fft, hop)
    weight, phase = np.abs(theirs), np.angle(theirs)
    total = 0.0
    for axis in (0, 1):  # frames, bins
        error = _wrapped(np.diff(ours, axis=axis) - np.diff(phase, axis=axis))
        ends = (
            np.sqrt(weight[:-1] * weight[1:])
            if axis == 0
            else np.sqrt(weight[:, :-1] * weight[:, 1:])
        )
        total += float((error * ends).sum() / max(float(ends.sum()), 1e-12))
    return total / 2


def pesq_wb(wave: np.ndarray, reference: np.ndarray, rate: int) -> float:
    """PESQ wideband of ``wave`` against ``reference`` (both at ``rate``); NaN when PESQ finds
    no speech in them."""
    from pesq import pesq

    from autovoice.audio.process import resample

    n = min(len(wave), len(reference))
    ours = resample(np.asarray(wave[:n], np.float32), rate, PESQ_RATE).astype(np.float64)
    theirs = resample(np.asarray(reference[:n], np.float32), rate, PESQ_RATE).astype(np.float64)
    try:
        return float(pesq(PESQ_RATE, theirs, ours, "wb"))
    except Exception:  # pesq raises its own errors for clips without an utterance
        return math.nan


def score(vocode: Vocode, references: Sequence[Wave], audio: Any) -> dict[str, float | int]:
    """Every score of one vocoder over the recordings, and its real-time factor."""
    from autovoice.audio.features import log_mel

    pesqs, stfts, phases, seconds, samples = [], [], [], 0.0, 0
    for reference in references:
        mel = log_mel(reference, audio)[None].astype(np.float32)
        start = time.perf_counter()
        wave = np.asarray(vocode(mel), np.float32).reshape(-1)
        seconds += time.perf_counter() - start
        samples += wave.size
        pesqs.append(pesq_wb(wave, reference, audio.sample_rate))
        stfts.append(stft_distance(wave, reference))
        phases.append(phase_distance(wave, reference, audio.n_fft, audio.hop_length))
    scored = [p for p in pesqs if not math.isnan(p)]
    return {
        "pesq_wb": statistics.fmean(scored) if scored else math.nan,
        "pesq_scored": len(scored),
        "stft_distance": statistics.fmean(stfts),
        "phase_distance": statistics.fmean(phases),
        "rtf": seconds / (samples / audio.sample_rate) if samples else math.inf,
    }


# -- the recordings and the vocoders ------------------------------------------------------------


def teacher_recordings(texts: Sequence[str], sample_rate: int, threads: int) -> list[Wave]:
    """The teacher's recording of each text, prepared as the distilled corpus' audio is."""
    from autovoice.corpus.distill import clean_recording, load_teacher

    teacher = load_teacher("hibari", threads=threads)
    return [
        clean_recording(np.asarray(teacher.speak(t, i), np.float32), teacher.sample_rate,
                        sample_rate)
        for i, t in enumerate(texts)
    ]  # fmt: skip


def bundle_vocoder(path: Any, threads: int, *, vocoder: str = "bundle") -> tuple[Vocode, str]:
    """The vocoder stage of the voice bundle ``path`` on ONNX Runtime (its head included), and
    the backend that serves it."""
    from autovoice.inference import VoiceInferenceEngine

    engine = VoiceInferenceEngine(path, backend="onnxruntime", threads=threads, vocoder=vocoder)
    stage = engine.stages["vocoder"]
    return (lambda mel: stage.run({"mel": mel})["audio"]), stage.backend


def true_magnitude_griffin_lim(audio: Any, references: Sequence[Wave]) -> Vocode:
    """Griffin-Lim (32 iterations) from the true linear magnitude of the recording whose mel
    it is given (a reference row: phase retrieval with a perfect magnitude)."""
    from autovoice.audio.features import log_mel, stft_magnitude
    from autovoice.audio.griffin_lim import griffin_lim_magnitude

    by_mel = {log_mel(r, audio).tobytes(): r for r in references}

    def vocode(mel: np.ndarray) -> np.ndarray:
        wave = by_mel[mel[0].tobytes()]
        magnitude = stft_magnitude(
            wave, n_fft=audio.n_fft, hop_length=audio.hop_length, win_length=audio.win_length
        )
        return griffin_lim_magnitude(
            magnitude[..., : mel.shape[-1]], n_fft=audio.n_fft, hop_length=audio.hop_length,
            win_length=audio.win_length, iterations=32,
        )  # fmt: skip

    return vocode


def given_vocoders() -> dict[str, str]:
    """``label -> bundle path`` from :data:`VOCODERS_ENV`."""
    return labelled_paths(VOCODERS_ENV)


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    from autovoice.bundle import VoiceBundle
    from autovoice.corpus.distill import load_heldout
    from autovoice.text import normalize_text

    threads = bench_threads()
    voice = bench_voice()
    audio = VoiceBundle.open(voice.path).audio
    held = load_heldout()
    texts = [normalize_text(t) for t in (held[:QUICK_SENTENCES] if quick else held)]
    references = teacher_recordings(texts, audio.sample_rate, threads)
    own, backend = bundle_vocoder(voice.path, threads)
    plugin = VoiceBundle.open(voice.path).stage("vocoder").plugin
    vocoders: dict[str, tuple[Vocode, str]] = {f"voice ({plugin})": (own, backend)}
    for label, path in given_vocoders().items():
        fn, served = bundle_vocoder(path, threads)
        vocoders[f"{label} ({VoiceBundle.open(path).stage('vocoder').plugin})"] = (fn, served)
    mel_gl, served = bundle_vocoder(voice.path, threads, vocoder="griffin_lim")
    vocoders["Griffin-Lim from the mel"] = (mel_gl, served)
    vocoders["Griffin-Lim from the true magnitude (reference)"] = (
        true_magnitude_griffin_lim(audio, references), "numpy",
    )  # fmt: skip
    rows = {
        label: {"backend": served, **score(fn, references, audio)}
        for label, (fn, served) in vocoders.items()
    }
    result = {
        "voice": voice.record(),
        "threads": threads,
        "sentences": len(texts),
        "audio_s": sum(len(r) for r in references) / audio.sample_rate,
        "vocoders": rows,
    }
    return result, table(result)


def table(result: dict[str, Any]) -> str:
    rows = [
        [label, r["backend"], r["pesq_wb"], r["stft_distance"], r["phase_distance"], r["rtf"]]
        for label, r in result["vocoders"].items()
    ]
    body = markdown_table(
        ["vocoder", "runs on", "PESQ-wb", "MR-STFT distance", "phase distance (rad)", "RTF"],
        rows,
    )
    return (
        f"{body}\n\n{result['sentences']} held-out sentences of the teacher "
        f"({result['audio_s']:.0f} s), {result['threads']} threads; voice: "
        f"{result['voice']['path']}.\n"
    )
