"""The phase probe's plumbing: a network that predicts a recording's own STFT scores as the
recording (PESQ near its ceiling, no phase error), and one whose phase is noise loses on the
phase and not on the magnitude."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pesq")

from autovoice.config import AudioConfig  # noqa: E402
from benchmarks.istft_phase import Probe, probe  # noqa: E402

AUDIO = AudioConfig()


def _recording(seconds: float = 1.5) -> np.ndarray:
    """A voiced-like tone: harmonics of a gliding f0, with an envelope."""
    rate = AUDIO.sample_rate
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = sum(np.sin(h * phase) / h for h in range(1, 25))
    return (0.3 * wave * np.hanning(t.size)).astype(np.float32)


class Oracle(torch.nn.Module):
    """Predicts ``reference``'s own STFT (the phase turned by ``noise`` radians at random)."""

    def __init__(self, reference: np.ndarray, noise: float) -> None:
        super().__init__()
        from autovoice_models.istft.model import InverseSTFT

        self.istft = InverseSTFT(n_fft=AUDIO.n_fft, hop_length=AUDIO.hop_length,
                                 win_length=AUDIO.win_length)  # fmt: skip
        self.reference, self.noise = reference, noise

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, ...]:
        frames = mel.shape[-1]
        runner = Probe(self, AUDIO)
        spectrum = runner.stft(
            torch.from_numpy(self.reference[: frames * AUDIO.hop_length]), frames
        )
        gen = torch.Generator().manual_seed(0)
        turn = torch.polar(
            torch.ones(spectrum.shape), self.noise * torch.randn(spectrum.shape, generator=gen)
        )
        spectrum = spectrum * turn
        log_magnitude = torch.log(spectrum.abs().clamp(min=1e-5))
        return log_magnitude[None], spectrum.real[None], spectrum.imag[None]


def test_a_network_that_predicts_the_recording_scores_as_the_recording():
    reference = _recording()
    result = probe(Oracle(reference, noise=0.0), AUDIO, [reference])
    assert result["pesq_wb"]["predicted"] > 4.4
    assert result["phase_error"]["instantaneous frequency"] < 1e-3
    assert result["phase_error"]["group delay"] < 1e-3
    bands = [k for k in result["phase_error"] if k.startswith("instantaneous frequency, 0-300")]
    assert bands and all(result["phase_error"][k] < 1e-3 for k in bands)


def test_a_noisy_phase_loses_on_the_phase_not_the_magnitude():
    reference = _recording()
    result = probe(Oracle(reference, noise=1.5), AUDIO, [reference])
    pesq = result["pesq_wb"]
    assert pesq["predicted"] < pesq["predicted magnitude, true phase"] - 1.0
    assert pesq["true magnitude, predicted phase"] < pesq["predicted magnitude, true phase"] - 1.0
    assert result["phase_error"]["instantaneous frequency"] > 0.5
    assert result["phase_error"]["instantaneous frequency, 300-600 Hz"] > 0.5
    # the recording's phase in a band mends that band only: all of it mends nearly all
    everything = pesq["predicted, the true phase in 0-1000 Hz"]
    assert everything > pesq["predicted"] + 1.0
    assert pesq["predicted, the true phase in 1000-11025 Hz"] < everything - 0.5
    assert pesq["predicted, the true phase in 0-300 Hz"] < everything - 0.5


def test_each_bins_advance_alone_is_not_enough():
    """The recording's phase turned by a fixed angle per bin advances as the recording's in
    every bin, and still loses: the relation between neighbouring bins is heard."""
    reference = _recording()
    pesq = probe(Oracle(reference, noise=0.0), AUDIO, [reference])["pesq_wb"]
    turned = pesq["predicted magnitude, true phase turned by a fixed random angle per bin"]
    assert turned < pesq["predicted magnitude, true phase"] - 1.0


def test_the_phase_vocoder_follows_a_steady_tone_between_bins():
    """Two tones off the bins' grid: the phase a peak-locked phase vocoder makes from their
    magnitude alone advances as their own does (without the parabola's offset it errs by up to
    pi / 4 a frame)."""
    from autovoice.audio.phase import peak_locked_phase
    from benchmarks.istft_phase import weighted_mean, wrapped

    rate = AUDIO.sample_rate
    t = np.arange(rate) / rate
    wave = 0.3 * np.cos(2 * np.pi * 443.7 * t + 0.3) + 0.2 * np.cos(2 * np.pi * 1212.9 * t)
    frames = rate // AUDIO.hop_length
    runner = Probe(Oracle(wave, 0.0), AUDIO)
    samples = torch.from_numpy(wave.astype(np.float32)[: frames * AUDIO.hop_length])
    spectrum = runner.stft(samples, frames).numpy()
    magnitude = np.abs(spectrum)
    ours = peak_locked_phase(magnitude, AUDIO.hop_length, AUDIO.n_fft)
    error = wrapped(np.diff(ours, axis=1) - np.diff(np.angle(spectrum), axis=1))
    weight = np.sqrt(magnitude[:, 1:] * magnitude[:, :-1])
    assert weighted_mean(error[:, 2:-2], weight[:, 2:-2]) < 0.05
