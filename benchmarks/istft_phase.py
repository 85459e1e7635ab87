"""Where an istft vocoder checkpoint loses: its magnitude or its phase, and which part of the
phase. Run by hand on a checkpoint (a training checkpoint or one kept as weights only)::

    python -m benchmarks.istft_phase training/istft-small/vocoder/step-000004000 [--sentences 12]

The teacher (``hibari-tts``, a bench peer) reads the first held-out sentences, prepared as the
copy-synthesis suite prepares them (:func:`benchmarks.bench_copysynth.teacher_recordings`). Each
recording's log-mel goes through the network, and waveforms are made by one inverse STFT from
mixes of its prediction and the recording's own STFT, then scored by PESQ-wb against the
recording (:func:`benchmarks.bench_copysynth.pesq_wb`):

- ``predicted``: the network's magnitude and phase (what the vocoder makes);
- ``predicted magnitude, true phase`` and ``true magnitude, predicted phase``: which half loses;
- ``predicted, the true phase in LOW-HIGH Hz`` (bands of :data:`SWAP_BANDS_HZ`): which band's
  phase loses;
- ``predicted magnitude, true phase turned by a fixed random angle per bin``: whether the
  relation between bins matters (the same turn at every frame, so each bin's phase advance is
  the recording's);
- ``predicted magnitude, N Griffin-Lim iterations from the predicted phase``: whether a few
  phase-retrieval iterations repair the phase (fast Griffin-Lim, momentum 0.99);
- ``predicted magnitude, a pulse train's phase where voiced``: the harmonic phase a
  source-filter vocoder would have, from the f0 :func:`autovoice.audio.pitch.estimate_pitch`
  finds in the recording (the network's phase elsewhere): whether an f0-driven phase would do;
- ``predicted`` / ``true magnitude, a phase vocoder's phase from it``: the phase a peak-locked
  phase vocoder makes from a magnitude alone
  (:func:`autovoice.audio.phase.peak_locked_phase`): whether the magnitude already holds the
  phase the network misses.

Then the phase's errors, magnitude-weighted and anti-wrapped (radians; about pi/2 is unrelated):
of the instantaneous frequency (the difference along time), of the group delay (along
frequency), and of the phase itself; with two predictors of the instantaneous frequency for
scale: every bin advancing at its centre frequency (``2 pi k hop / n_fft`` a frame; both also
in each band of :data:`BANDS_HZ`), and, in
voiced frames below 4 kHz only, beside the network's there, the same, every bin advancing at
the harmonic of the estimated f0 nearest it, and the phase vocoder's from the true magnitude.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from autovoice.audio.phase import peak_locked_phase

GRIFFIN_LIM_ITERATIONS = (4, 16)
VOICED_BELOW_HZ = 4000.0
BANDS_HZ = (0, 300, 600, 1000, 2000, 4000, 8000, 11025)
"""Edges of the bands the instantaneous-frequency error is also given in."""
SWAP_BANDS_HZ = ((0, 300), (300, 600), (600, 1000), (0, 1000), (1000, 11025))
"""Bands whose predicted phase is swapped for the recording's, one mix each."""
FIXED_TURN_SEED = 0
"""Seed of the random fixed turn per bin of the ``true phase, turned`` mix."""


def wrapped(x: np.ndarray) -> np.ndarray:
    """Distance of each angle to the nearest whole turn."""
    return np.abs(x - 2 * np.pi * np.round(x / (2 * np.pi)))


def weighted_mean(error: np.ndarray, weight: np.ndarray) -> float:
    return float((error * weight).sum() / max(float(weight.sum()), 1e-12))


class Probe:
    """The network of one checkpoint, and the STFT pair of its audio settings."""

    def __init__(self, net: Any, audio: Any) -> None:
        from autovoice.training.features import LogMel

        self.net, self.audio = net.eval(), audio
        self.n_fft, self.hop = audio.n_fft, audio.hop_length
        self.features = LogMel(audio)

    def stft(self, wave: torch.Tensor, frames: int) -> torch.Tensor:
        """``(bins, frames)``: the features' framing, as the vocoder's inverse undoes it."""
        return self.features.spectrum(wave[None])[0, :, :frames]

    def inverse(self, magnitude: torch.Tensor, phase: torch.Tensor, iterations: int = 0) -> Any:
        """The waveform of ``magnitude`` with the unit ``phase``, after ``iterations`` of fast
        Griffin-Lim started from it."""
        spectrum, previous = magnitude * phase, None
        for _ in range(iterations):
            wave = self.net.istft(spectrum.real[None], spectrum.imag[None])[0]
            rebuilt = self.stft(wave, magnitude.shape[-1])
            step = rebuilt if previous is None else rebuilt + 0.99 * (rebuilt - previous)
            previous = rebuilt
            spectrum = magnitude * step / (step.abs() + 1e-8)
        return self.net.istft(spectrum.real[None], spectrum.imag[None])[0].numpy()

    def clip(self, reference: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
        """PESQ of each mix and the phase errors, for one recording."""
        from autovoice.audio.features import log_mel
        from autovoice.audio.pitch import estimate_pitch
        from benchmarks.bench_copysynth import pesq_wb

        mel = torch.from_numpy(log_mel(reference, self.audio)[None])
        with torch.no_grad():
            log_magnitude, r, i = self.net(mel.float())
            frames = log_magnitude.shape[-1]
            magnitude = torch.exp(log_magnitude[0])
            direction = torch.complex(r[0], i[0])
            phase = direction / (direction.abs() + 1e-12)
            true = self.stft(torch.from_numpy(reference[: frames * self.hop]), frames)
            true_phase = true / (true.abs() + 1e-12)
            f0 = estimate_pitch(
                reference, sample_rate=self.audio.sample_rate, hop_length=self.hop, n_frames=frames
            )
            pulse = self.stft(torch.from_numpy(pulse_train(f0, self.audio)), frames)
            loud = pulse.abs() > 0.05 * pulse.abs().amax(dim=0, keepdim=True)
            voiced_phase = torch.where(
                loud & torch.from_numpy(f0 > 0)[None], pulse / (pulse.abs() + 1e-12), phase
            )
            vocoded = {
                name: torch.polar(
                    torch.ones_like(m),
                    torch.from_numpy(peak_locked_phase(m.numpy(), self.hop, self.n_fft)).float(),
                )
                for name, m in (("predicted", magnitude), ("true", true.abs()))
            }
            mixes = {
                "predicted": (magnitude, phase, 0),
                "predicted magnitude, a phase vocoder's phase from it": (
                    magnitude,
                    vocoded["predicted"],
                    0,
                ),
                "true magnitude, a phase vocoder's phase from it": (
                    true.abs(),
                    vocoded["true"],
                    0,
                ),
                "predicted magnitude, a pulse train's phase where voiced": (
                    magnitude,
                    voiced_phase,
                    0,
                ),
                "predicted magnitude, true phase": (magnitude, true_phase, 0),
                **swapped_bands(magnitude, phase, true_phase, self.audio),
                "predicted magnitude, true phase turned by a fixed random angle per bin": (
                    magnitude,
                    true_phase * fixed_turns(true_phase.shape[0]),
                    0,
                ),
                "true magnitude, predicted phase": (true.abs(), phase, 0),
                **{
                    f"predicted magnitude, {n} Griffin-Lim iterations from the predicted phase": (
                        magnitude,
                        phase,
                        n,
                    )
                    for n in GRIFFIN_LIM_ITERATIONS
                },
            }
            rate = self.audio.sample_rate
            scores = {k: pesq_wb(self.inverse(*mix), reference, rate) for k, mix in mixes.items()}
        ours, theirs = np.angle(phase.numpy()), np.angle(true.numpy())
        weight = np.abs(true.numpy())
        along_time = np.sqrt(weight[:, 1:] * weight[:, :-1])
        bins = np.arange(weight.shape[0])[:, None]
        centre = 2 * np.pi * bins * self.hop / self.n_fft + 0 * along_time
        true_if = np.diff(theirs, axis=1)
        voiced = (f0[1:] > 0) & (f0[:-1] > 0)
        mean_f0 = np.where(voiced, 0.5 * (f0[1:] + f0[:-1]), 1.0)[None]
        harmonic = np.maximum(np.round(bins * rate / self.n_fft / mean_f0), 1)
        harmonic_if = harmonic * 2 * np.pi * mean_f0 * self.hop / rate
        low = (bins * rate / self.n_fft) < VOICED_BELOW_HZ
        voiced_weight = along_time * voiced[None] * low
        ours_if = np.diff(ours, axis=1)
        errors = {
            "instantaneous frequency": weighted_mean(wrapped(ours_if - true_if), along_time),
            "instantaneous frequency, each bin at its centre frequency": weighted_mean(
                wrapped(centre - true_if), along_time
            ),
            f"instantaneous frequency, voiced frames below {VOICED_BELOW_HZ:.0f} Hz": (
                weighted_mean(wrapped(ours_if - true_if), voiced_weight)
            ),
            "the same, each bin at its centre frequency": weighted_mean(
                wrapped(centre - true_if), voiced_weight
            ),
            "the same, each bin at the harmonic of the estimated f0 nearest it": weighted_mean(
                wrapped(harmonic_if - true_if), voiced_weight
            ),
            "the same, a phase vocoder's from the true magnitude": weighted_mean(
                wrapped(np.diff(np.angle(vocoded["true"].numpy()), axis=1) - true_if),
                voiced_weight,
            ),
            **band_errors(
                wrapped(ours_if - true_if),
                wrapped(centre - true_if),
                along_time,
                bins[:, 0] * rate / self.n_fft,
            ),
            "group delay": weighted_mean(
                wrapped(np.diff(ours, axis=0) - np.diff(theirs, axis=0)),
                np.sqrt(weight[1:] * weight[:-1]),
            ),
            "phase itself": weighted_mean(wrapped(ours - theirs), weight),
        }
        return scores, errors


def swapped_bands(
    magnitude: torch.Tensor, phase: torch.Tensor, true_phase: torch.Tensor, audio: Any
) -> dict[str, tuple[torch.Tensor, torch.Tensor, int]]:
    """One mix per band of :data:`SWAP_BANDS_HZ`: the predicted magnitude and phase, with the
    recording's unit phase in that band's bins."""
    hz = torch.arange(magnitude.shape[0]) * (audio.sample_rate / audio.n_fft)
    out = {}
    for low, high in SWAP_BANDS_HZ:
        rows = ((hz >= low) & (hz < high))[:, None]
        out[f"predicted, the true phase in {low}-{high} Hz"] = (
            magnitude,
            torch.where(rows, true_phase, phase),
            0,
        )
    return out


def fixed_turns(bins: int) -> torch.Tensor:
    """``(bins, 1)`` unit phasors at angles drawn uniformly, the same for every frame."""
    gen = torch.Generator().manual_seed(FIXED_TURN_SEED)
    angle = (torch.rand(bins, 1, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    return torch.polar(torch.ones_like(angle), angle).to(torch.complex64)


def band_errors(
    network: np.ndarray, centre: np.ndarray, weight: np.ndarray, hz: np.ndarray
) -> dict[str, float]:
    """The weighted mean of ``network``'s and of the centre-frequency predictor's
    ``(bins, frames)`` errors in each band of :data:`BANDS_HZ` (``hz``: each bin's frequency)."""
    out: dict[str, float] = {}
    for low, high in itertools.pairwise(BANDS_HZ):
        rows = (hz >= low) & (hz < high)
        band = f"{low}-{high} Hz"
        out[f"instantaneous frequency, {band}"] = weighted_mean(network[rows], weight[rows])
        out[f"the same, each bin at its centre frequency, {band}"] = weighted_mean(
            centre[rows], weight[rows]
        )
    return out


def pulse_train(f0: np.ndarray, audio: Any) -> np.ndarray:
    """Every harmonic of ``f0`` (Hz per frame, 0 unvoiced; linear between frame centres) below
    the Nyquist frequency, in cosine phase, zero where unvoiced: the source a source-filter
    vocoder would take its harmonic phase from."""
    rate, hop = audio.sample_rate, audio.hop_length
    samples = np.arange(f0.size * hop)
    f = np.interp(samples, np.arange(f0.size) * hop + hop / 2, f0)
    voiced = f > 0
    steady = np.where(voiced, f, 100.0)
    phase = 2 * np.pi * np.cumsum(steady) / rate
    wave = np.zeros(samples.size)
    for h in range(1, int(rate / 2 / 50)):
        wave += np.where(voiced & (h * steady < rate / 2 - 500), np.cos(h * phase), 0.0)
    return wave.astype(np.float32)


def probe(net: Any, audio: Any, references: Sequence[np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean PESQ of each mix and mean phase errors over ``references``."""
    runner = Probe(net, audio)
    clips = [runner.clip(np.asarray(r, np.float32)) for r in references]

    def mean(rows: list[dict[str, float]]) -> dict[str, float]:
        return {
            k: statistics.fmean(v for v in (row[k] for row in rows) if not math.isnan(v))
            for k in rows[0]
        }

    return {"pesq_wb": mean([c[0] for c in clips]), "phase_error": mean([c[1] for c in clips])}


def load_net(checkpoint: str) -> tuple[Any, Any]:
    """The istft network of a vocoder checkpoint (kept as weights only or not) and its audio
    settings."""
    from autovoice.commands.plugins import registry
    from autovoice.training.stages import VOCODER_STAGES, rebuild_stage

    source = rebuild_stage(checkpoint, VOCODER_STAGES, registry())
    if source.config.vocoder.name != "istft":
        raise SystemExit(f"{checkpoint}: a {source.config.vocoder.name} vocoder, not istft")
    return source.recipe.modules["generator"], source.config.audio


def main(argv: Sequence[str] | None = None) -> int:
    from autovoice.corpus.distill import load_heldout
    from autovoice.text import normalize_text
    from benchmarks.bench_copysynth import teacher_recordings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--sentences", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    net, audio = load_net(args.checkpoint)
    texts = [normalize_text(t) for t in load_heldout()[: args.sentences]]
    result = probe(net, audio, teacher_recordings(texts, audio.sample_rate, args.threads))
    print(f"{args.checkpoint}, {len(texts)} held-out sentences of the teacher")
    for section, rows in result.items():
        for name, value in rows.items():
            print(f"{section:12s} {value:7.3f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
