"""IstftNet: log-mel to a complex spectrum at frame rate, then one inverse STFT.

The backbone is a stack of ConvNeXt blocks over frames (depthwise convolution, layer norm, an
inverted-bottleneck MLP, layer scale), as in Vocos; nothing runs at the sample rate. Two heads
read it, as in APNet's parallel phase estimation: the log-magnitude, added to the mel's spectral
envelope on the linear bins (so an untrained network already has the mel's envelope), and two
maps ``(r, i)`` whose direction is the phase: ``phase = atan2(i, r)``. The spectrum is
``magnitude * (r, i) / |(r, i)|``, which needs no trigonometry in the graph.

:class:`InverseSTFT` inverts exactly the framing of :mod:`autovoice.audio.features`: reflect
padding of ``(n_fft - hop) // 2`` on both sides, frames every ``hop``, a periodic Hann window of
``win_length`` centred in ``n_fft``. Each frame is the inverse real FFT of its spectrum times the
window; frames are overlap-added, multiplied by one over the summed squared window (where that
sum exceeds 1e-8, else 0) and cropped to ``[left, left + frames * hop)``. Training runs the FFT
(``torch.fft.irfft``); the exported graph, which ONNX has no inverse FFT for, multiplies by the
same transform as a fixed ``(2 * bins, n_fft)`` basis with the window folded in, and overlap-adds
with ``n_fft / hop`` shifted slices. Both give the same waveform to float32 rounding.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autovoice.audio.features import hann_window, stft_padding
from autovoice.config.schema import AudioConfig
from autovoice_models.envelope import MelEnvelope

TINY = 1e-8
"""Summed squared windows at or below this count as no coverage (gain 0)."""
TWO_PI = 2.0 * math.pi
LOG_MAGNITUDE_MAX = math.log(100.0)
"""The predicted log-magnitude is clamped here (a full-scale sine peaks near n_fft / 4)."""


def frame_linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``layer`` applied to every frame of ``x`` ``(..., features)``, through a 2-D matrix: the
    exported graph then multiplies by the layer's weight as stored (ONNX ``Gemm`` with a
    transposed operand), where on 3-D input it would hold a transposed copy, which a bundle
    cannot share with its safetensors."""
    out: torch.Tensor = layer(x.reshape(-1, x.shape[-1]))
    return out.reshape(*x.shape[:-1], out.shape[-1])


class ConvNeXtBlock(nn.Module):
    """``x + gamma * mlp(norm(depthwise_conv(x)))`` over frames, ``(batch, dim, frames)``."""

    def __init__(self, dim: int, intermediate: int, kernel_size: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate)
        self.pwconv2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)
        y = frame_linear(self.pwconv2, F.gelu(frame_linear(self.pwconv1, self.norm(y))))
        out: torch.Tensor = x + (self.gamma * y).transpose(1, 2)
        return out


class BasisProduct(nn.Module):
    """``(batch, frames, 2 * bins) @ (2 * bins, n_fft)``: the inverse real FFT of every frame,
    windowed, as one matrix product with a fixed basis (no parameters)."""

    basis: torch.Tensor

    def __init__(self, basis: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("basis", basis, persistent=False)

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        return torch.matmul(stacked, self.basis)

    def flops(self, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
        """Multiply-adds of one call, for FLOP counts (two per multiply-add)."""
        rows = int(inputs[0].numel()) // self.basis.shape[0]
        return 2 * rows * self.basis.shape[0] * self.basis.shape[1]


class InverseSTFT(nn.Module):
    """``(batch, bins, frames)`` real and imaginary parts to ``(batch, frames * hop)`` samples,
    inverting the features' framing (see the module docstring)."""

    window: torch.Tensor

    def __init__(self, *, n_fft: int, hop_length: int, win_length: int) -> None:
        super().__init__()
        if n_fft % hop_length:
            raise ValueError(f"n_fft ({n_fft}) must be a multiple of hop_length ({hop_length})")
        self.n_fft, self.hop = n_fft, hop_length
        self.slabs = n_fft // hop_length
        self.left = stft_padding(n_fft, hop_length)
        window = np.asarray(hann_window(win_length, n_fft), np.float64)
        self.register_buffer("window", torch.tensor(window, dtype=torch.float32), persistent=False)
        self.product = BasisProduct(_irfft_basis(n_fft, window))

    def frames(self, real: torch.Tensor, imag: torch.Tensor, *, basis: bool) -> torch.Tensor:
        """Windowed time frames ``(batch, frames, n_fft)``."""
        if basis:
            product: torch.Tensor = self.product(torch.cat([real, imag], dim=1).transpose(1, 2))
            return product
        spectrum = torch.complex(real, imag).transpose(1, 2)
        frames: torch.Tensor = torch.fft.irfft(spectrum, n=self.n_fft, dim=-1)  # untyped in torch
        return frames * self.window

    def overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, n_fft)`` laid ``hop`` apart and summed: ``(batch, (frames + k - 1)
        * hop)`` with ``k = n_fft / hop``, as ``k`` shifted slices."""
        batch = frames.shape[0]
        blocks = frames.reshape(batch, frames.shape[1], self.slabs, self.hop)
        total = F.pad(blocks[:, :, 0], (0, 0, 0, self.slabs - 1))
        for j in range(1, self.slabs):
            total = total + F.pad(blocks[:, :, j], (0, 0, j, self.slabs - 1 - j))
        return total.reshape(batch, -1)

    def forward(
        self, real: torch.Tensor, imag: torch.Tensor, *, basis: bool = False
    ) -> torch.Tensor:
        count = real.shape[-1]
        summed = self.overlap_add(self.frames(real, imag, basis=basis))
        squares = (self.window * self.window).expand(1, count, self.n_fft)
        cover = self.overlap_add(squares)
        gain = torch.where(
            cover > TINY, 1.0 / torch.clamp(cover, min=TINY), torch.zeros_like(cover)
        )
        kept = summed * gain
        return kept[:, self.left : self.left + count * self.hop]


def frame_steps(like: torch.Tensor, period: int) -> torch.Tensor:
    """Each frame's index modulo ``period``, for ``like`` ``(..., frames)``."""
    return torch.arange(like.shape[-1], device=like.device) % period


class FrameClock(nn.Module):
    """The frame index ``t`` modulo ``period``, as ``cos(2π j t / period)`` and
    ``sin(2π j t / period)`` (``j = 1 .. period // 2``; the sines that are zero at every whole
    ``t`` left out), embedded by a convolution to ``(batch, dim, frames)``, added to the mel's
    embedding. The convolution starts at zero, so a network trained without the clock starts
    where it left off.

    With ``period = n_fft / hop``, the phase of bin ``k`` at its centre frequency advances by
    ``2π k / period`` per frame, so it repeats every ``period`` frames. A convolution over
    frames, given only a steady mel, makes the same output every frame, and so can only make
    tones at multiples of ``sample_rate / hop`` (86 Hz at 22.05 kHz, hop 256); given the clock,
    tones on the bins' own grid too (21.5 Hz with n_fft 1024). Absolute time is not given:
    where the clock starts only turns every phase, which no loss and no listener hears."""

    def __init__(self, period: int, dim: int, kernel_size: int) -> None:
        super().__init__()
        self.period = period
        waves = [(j, False) for j in range(1, period // 2 + 1)]
        waves += [(j, True) for j in range(1, (period + 1) // 2)]
        self.waves = tuple(sorted(waves))
        self.embed = nn.Conv1d(len(self.waves), dim, kernel_size, padding=kernel_size // 2)
        for param in self.embed.parameters():
            nn.init.zeros_(param)

    def signal(self, like: torch.Tensor) -> torch.Tensor:
        """``(1, waves, frames)`` for a ``(batch, n_mels, frames)`` mel."""
        angle = frame_steps(like, self.period).to(like.dtype) * (2.0 * math.pi / self.period)
        rows = [torch.sin(j * angle) if sine else torch.cos(j * angle) for j, sine in self.waves]
        return torch.stack(rows).unsqueeze(0)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.embed(self.signal(log_mel))
        return out


class BinRotation(nn.Module):
    """Turns the phase of bin ``k`` at frame ``t`` by ``2π k t hop / n_fft``: the advance of a
    tone at the bin's centre frequency. With it, a network that holds its output steady over a
    steady mel makes tones at the bins' centres (the 21.5 Hz grid of n_fft 1024 at 22.05 kHz)
    instead of at multiples of ``sample_rate / hop``, and what it predicts is each bin's phase
    relative to its centre frequency's. The turn repeats every ``n_fft / gcd(n_fft, hop)``
    frames; it is a fixed table of that many frames (no parameters), taken at ``t`` modulo
    its period, so every backend computes it the same way. Where ``t`` starts turns bin
    ``k`` by a fixed angle, which no loss and no listener hears."""

    table: torch.Tensor

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        bins = n_fft // 2 + 1
        self.period = n_fft // math.gcd(n_fft, hop_length)
        k = np.arange(bins)[:, None]
        t = np.arange(self.period)[None, :]
        angle = 2.0 * np.pi * ((k * t * hop_length) % n_fft) / n_fft
        table = np.stack([np.cos(angle), np.sin(angle)])
        self.register_buffer("table", torch.tensor(table, dtype=torch.float32), persistent=False)

    def forward(self, r: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(r, i)`` ``(batch, bins, frames)`` turned frame by frame."""
        cos, sin = self.table[:, :, frame_steps(r, self.period)].to(r.dtype)
        return turn(r, i, cos, sin)


class PhaseIntegrator(nn.Module):
    """Each bin's phase advance per frame, read from the backbone by a linear layer, summed
    over frames (a running sum from the first frame): the angle that turns the directly
    predicted phase. GANSynth's instantaneous-frequency representation, added to APNet's
    direct phase.

    A convolution over frames given a steady mel makes the same output every frame; the
    directly predicted phase then repeats every frame, and the only steady tones it can make
    are at multiples of ``sample_rate / hop``. A steady *advance*, summed, makes a steady tone at
    any frequency: the harmonics of a 200 Hz voice as well as those of an 86 Hz one. The layer
    starts at zero, so a network trained without it starts where it left off. The sum runs
    forward in time only, so padding after an utterance's end never reaches its frames."""

    def __init__(self, dim: int, bins: int) -> None:
        super().__init__()
        self.advance = nn.Linear(dim, bins)
        nn.init.zeros_(self.advance.weight)
        nn.init.zeros_(self.advance.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, dim)`` backbone features to the angle ``(batch, bins, frames)``."""
        angle: torch.Tensor = torch.cumsum(frame_linear(self.advance, features), dim=1)
        return angle.transpose(1, 2)


F0_RANGE_HZ = (50.0, 600.0)
"""The predicted f0 is clamped to this range."""
F0_START_HZ = 150.0
"""The f0 an untrained harmonic head predicts."""


class HarmonicPhase(nn.Module):
    """A second phase direction for the bins below ``below_hz``, locked to the harmonics of an
    f0 the network predicts: the fundamental's phase ``θ`` is the running sum of its advance
    ``2π f0 hop / sample_rate`` per frame, and bin ``k`` at frame ``t`` turns by ``h θ``, ``h``
    the harmonic nearest the bin's centre frequency. Every bin of a harmonic then turns at that
    harmonic's frequency, and all the harmonics at one rate, so an error in f0 moves the whole
    harmonic series together (which the waveform's shape survives), where an error in each bin
    alone breaks the relation between bins (which it does not; docs/istft.md). The network
    gives each bin its own direction relative to that turn, ``(r, i)`` from a linear layer that
    starts at zero, added to the direct phase's: a network trained without it starts where it
    left off (``start`` sets the real part it starts at instead: 1 for a phase that has no
    direct one to add to, so that every harmonic starts in cosine phase). The fundamental's
    phase is kept modulo 2π (``h`` is whole, so ``h θ`` is the
    same), which keeps its products exact in float32."""

    centre: torch.Tensor

    def __init__(
        self, dim: int, audio: AudioConfig, below_hz: float, *, start: float = 0.0
    ) -> None:
        super().__init__()
        bins = audio.n_fft // 2 + 1
        hz = np.arange(bins) * audio.sample_rate / audio.n_fft
        self.bins = int(np.count_nonzero(hz < below_hz))
        self.register_buffer(
            "centre", torch.tensor(hz[: self.bins], dtype=torch.float32), persistent=False
        )
        self.step = 2.0 * math.pi * audio.hop_length / audio.sample_rate
        self.f0 = nn.Linear(dim, 1)
        nn.init.zeros_(self.f0.weight)
        nn.init.constant_(self.f0.bias, math.log(F0_START_HZ))
        self.direction = nn.Linear(dim, 2 * self.bins)
        nn.init.zeros_(self.direction.weight)
        nn.init.zeros_(self.direction.bias)
        nn.init.constant_(self.direction.bias[: self.bins], start)

    def log_f0(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, dim)`` features to the log of f0 in Hz, ``(batch, frames)``."""
        low, high = (math.log(f) for f in F0_RANGE_HZ)
        out: torch.Tensor = torch.clamp(frame_linear(self.f0, features)[..., 0], low, high)
        return out

    def forward(
        self, features: torch.Tensor, log_f0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The locked direction ``(r, i)``, ``(batch, bins below below_hz, frames)`` each. No
        gradient reaches ``log_f0`` through it: the loss of a phase summed over frames is a
        periodic function of f0 with many minima, and a run that let it through drifted to
        12% f0 error where the f0 loss alone holds 2%; f0 learns from its own loss only."""
        f0 = torch.exp(log_f0.detach())
        theta = TWO_PI * running_turns(f0 * (self.step / TWO_PI))[:, None, :]
        harmonic = torch.clamp(torch.round(self.centre[None, :, None] / f0[:, None, :]), min=1.0)
        r, i = torch.chunk(frame_linear(self.direction, features).transpose(1, 2), 2, dim=1)
        return turn_by(r, i, harmonic * theta)


SUM_BLOCK = 64
"""Frames per block of :func:`running_turns`' two-level sum."""


def running_turns(turns: torch.Tensor) -> torch.Tensor:
    """The running sum over the last axis of ``(batch, frames)`` turns, modulo one turn, kept
    exact in float32 for any length: sums within blocks of :data:`SUM_BLOCK` frames stay below
    that many turns, and each block starts from the sum of the blocks before it, each taken
    modulo one turn first (a plain running sum of 20000 frames loses radians)."""
    batch, frames = turns.shape
    pad = (SUM_BLOCK - frames % SUM_BLOCK) % SUM_BLOCK
    blocks = F.pad(turns - torch.floor(turns), (0, pad)).reshape(batch, -1, SUM_BLOCK)
    inner = torch.cumsum(blocks, dim=2)
    totals = inner[..., -1]
    totals = totals - torch.floor(totals)
    starts = torch.cumsum(totals, dim=1) - totals
    summed = (inner + (starts - torch.floor(starts))[..., None]).reshape(batch, -1)[:, :frames]
    return summed - torch.floor(summed)


def turn(
    r: torch.Tensor, i: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The direction ``(r, i)`` turned by the angle whose cosine and sine are given."""
    return r * cos - i * sin, r * sin + i * cos


def turn_by(
    r: torch.Tensor, i: torch.Tensor, angle: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The direction ``(r, i)`` turned by ``angle`` (radians)."""
    return turn(r, i, torch.cos(angle), torch.sin(angle))


def _irfft_basis(n_fft: int, window: np.ndarray) -> torch.Tensor:
    """``(2 * bins, n_fft)``: row ``k`` maps the real part of bin ``k`` to the windowed inverse
    real FFT, row ``bins + k`` its imaginary part (zero for the DC and Nyquist bins, which the
    inverse real FFT ignores)."""
    bins = n_fft // 2 + 1
    k = np.arange(bins)[:, None]
    n = np.arange(n_fft)[None, :]
    angle = 2.0 * np.pi * k * n / n_fft
    weight = np.full((bins, 1), 2.0 / n_fft)
    weight[0] = 1.0 / n_fft
    if n_fft % 2 == 0:
        weight[-1] = 1.0 / n_fft
    cos = weight * np.cos(angle)
    sin = -weight * np.sin(angle)
    sin[0] = 0.0
    if n_fft % 2 == 0:
        sin[-1] = 0.0
    basis = np.concatenate([cos, sin], axis=0) * window[None, :]
    return torch.tensor(basis, dtype=torch.float32)


class IstftNet(nn.Module):
    """``(batch, n_mels, frames)`` log-mel to the log-magnitude and the phase direction
    ``(r, i)``, each ``(batch, bins, frames)`` (:meth:`forward`), to the complex spectrum
    (:meth:`spectrum`) and to the waveform (:meth:`waveform`)."""

    def __init__(
        self,
        audio: AudioConfig,
        *,
        dim: int = 192,
        intermediate: int = 576,
        layers: int = 6,
        kernel_size: int = 7,
        layer_scale: float | None = None,
        floor: float = 1e-5,
        frame_clock: bool = False,
        bin_rotation: bool = False,
        integrated_phase: bool = False,
        harmonic_below_hz: float = 0.0,
        harmonic_only: bool = False,
    ) -> None:
        super().__init__()
        n_fft, hop_length = audio.n_fft, audio.hop_length
        self.bins = n_fft // 2 + 1
        self.clock = FrameClock(n_fft // hop_length, dim, kernel_size) if frame_clock else None
        self.rotation = BinRotation(n_fft, hop_length) if bin_rotation else None
        self.envelope = MelEnvelope(audio, floor=floor)
        self.embed = nn.Conv1d(audio.n_mels, dim, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        scale = layer_scale if layer_scale is not None else 1.0 / layers
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(dim, intermediate, kernel_size, scale) for _ in range(layers)
        )
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 3 * self.bins)
        nn.init.zeros_(self.head.weight[: self.bins])
        nn.init.zeros_(self.head.bias)
        self.integrator = PhaseIntegrator(dim, self.bins) if integrated_phase else None
        self.harmonic = (
            HarmonicPhase(dim, audio, harmonic_below_hz, start=float(harmonic_only))
            if harmonic_below_hz > 0
            else None
        )
        self.harmonic_only = harmonic_only
        self.istft = InverseSTFT(n_fft=n_fft, hop_length=hop_length, win_length=audio.win_length)

    def forward(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        log_magnitude, r, i, _ = self.predict(log_mel)
        return log_magnitude, r, i

    def predict(
        self, log_mel: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """:meth:`forward`'s log-magnitude and ``(r, i)``, and the log-f0 ``(batch, frames)``
        of the harmonic phase (None without it)."""
        x = self.embed(log_mel)
        if self.clock is not None:
            x = x + self.clock(log_mel)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        features = self.final_norm(x.transpose(1, 2))
        out = frame_linear(self.head, features).transpose(1, 2)
        detail, r, i = torch.chunk(out, 3, dim=1)
        log_magnitude = torch.clamp(self.envelope(log_mel) + detail, max=LOG_MAGNITUDE_MAX)
        if self.rotation is not None:
            r, i = self.rotation(r, i)
        if self.integrator is not None:
            r, i = turn_by(r, i, self.integrator(features))
        log_f0 = None
        if self.harmonic is not None:
            log_f0 = self.harmonic.log_f0(features)
            locked_r, locked_i = self.harmonic(features, log_f0)
            low = self.harmonic.bins
            if not self.harmonic_only:
                locked_r, locked_i = r[:, :low] + locked_r, i[:, :low] + locked_i
            r = torch.cat([locked_r, r[:, low:]], dim=1)
            i = torch.cat([locked_i, i[:, low:]], dim=1)
        return log_magnitude, r, i, log_f0

    def spectrum(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary parts, ``(batch, bins, frames)`` each."""
        log_magnitude, r, i = self.forward(log_mel)
        return polar(log_magnitude, r, i)

    def waveform(self, log_mel: torch.Tensor, *, basis: bool = False) -> torch.Tensor:
        real, imag = self.spectrum(log_mel)
        wave: torch.Tensor = self.istft(real, imag, basis=basis)
        return wave


def polar(
    log_magnitude: torch.Tensor, r: torch.Tensor, i: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``exp(log_magnitude)`` in the direction of ``(r, i)``: real and imaginary parts."""
    scale = torch.exp(log_magnitude) * torch.rsqrt(r * r + i * i + 1e-12)
    return scale * r, scale * i


class IstftWaveExport(nn.Module):
    """The exported graph with the inverse STFT inside: ``mel`` to ``audio``."""

    def __init__(self, net: IstftNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net.waveform(mel, basis=True)
        return out


class IstftSpectrumExport(nn.Module):
    """The exported graph for the ``istft`` head: ``mel`` to ``real`` and ``imag``."""

    def __init__(self, net: IstftNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.spectrum(mel)


__all__ = [
    "BasisProduct",
    "BinRotation",
    "ConvNeXtBlock",
    "FrameClock",
    "HarmonicPhase",
    "InverseSTFT",
    "IstftNet",
    "IstftSpectrumExport",
    "IstftWaveExport",
    "MelEnvelope",
    "PhaseIntegrator",
    "polar",
    "running_turns",
    "turn",
    "turn_by",
]
