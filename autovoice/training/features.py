"""The log-mel spectrogram in torch, for GPU training: a twin of ``autovoice.audio.features``.

The filterbank and window are taken from the numpy reference (one definition of the features);
a test holds the two to within 1e-4. Nothing in ``forward`` touches numpy, so the module runs on
CUDA tensors and exports to ONNX.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from autovoice.audio.features import (
    MAGNITUDE_EPS,
    WaveTooShortError,
    hann_window,
    mel_filterbank,
    min_samples,
    stft_padding,
)
from autovoice.audio.process import AudioValueError
from autovoice.config.schema import AudioConfig

__all__ = ["LogMel"]


class LogMel(torch.nn.Module):
    """``(batch, samples)`` or ``(samples,)`` waveforms to ``(..., n_mels, frames)`` log-mels."""

    mel_basis: torch.Tensor
    window: torch.Tensor

    def __init__(self, audio: AudioConfig) -> None:
        """The log-mel of an ``[audio]`` section's settings."""
        super().__init__()
        self.n_fft = audio.n_fft
        self.hop_length = audio.hop_length
        self.padding = stft_padding(audio.n_fft, audio.hop_length)
        self.min_samples = min_samples(audio.n_fft, audio.hop_length)
        self.log_clamp = float(audio.log_clamp)
        bank = np.array(
            mel_filterbank(audio.sample_rate, audio.n_fft, audio.n_mels, audio.f_min, audio.f_max)
        )
        window = np.array(hann_window(audio.win_length, audio.n_fft))
        self.register_buffer("mel_basis", torch.from_numpy(bank), persistent=False)
        self.register_buffer("window", torch.from_numpy(window), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Log-mels of ``(batch, samples)`` or ``(samples,)``: ``(batch, n_mels, frames)`` or
        ``(n_mels, frames)``, in the dtype of the buffers (float32 unless ``.double()``)."""
        if wave.dim() not in (1, 2):
            raise AudioValueError(
                f"wave must be (samples,) or (batch, samples), got {tuple(wave.shape)}"
            )
        if wave.shape[-1] < self.min_samples:
            raise WaveTooShortError(
                f"wave of {wave.shape[-1]} samples is too short: at least {self.min_samples} "
                f"are needed for one frame (n_fft={self.n_fft}, hop_length={self.hop_length})"
            )
        out = self.of_spectrum(self.spectrum(wave if wave.dim() == 2 else wave.unsqueeze(0)))
        return out if wave.dim() == 2 else out.squeeze(0)

    def of_spectrum(self, spectrum: torch.Tensor) -> torch.Tensor:
        """The log-mel ``(batch, n_mels, frames)`` of a complex STFT that :meth:`spectrum`
        made: for a caller that needs both, one STFT instead of two."""
        mel = torch.matmul(self.mel_basis, self._magnitude(spectrum))
        return torch.log(torch.clamp(mel, min=self.log_clamp))

    def magnitude(self, wave: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` to the linear STFT magnitude ``(batch, n_fft // 2 + 1, frames)``
        the log-mel is made from (the features' framing and ``MAGNITUDE_EPS``)."""
        return self._magnitude(self.spectrum(wave))

    @staticmethod
    def _magnitude(spectrum: torch.Tensor) -> torch.Tensor:
        parts = torch.view_as_real(spectrum)
        return torch.sqrt(parts.pow(2).sum(-1) + MAGNITUDE_EPS)

    def spectrum(self, wave: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` to the complex STFT ``(batch, n_fft // 2 + 1, frames)`` of the
        features' framing (reflect padding, periodic Hann window, no centering)."""
        padded = F.pad(
            wave.to(self.mel_basis.dtype).unsqueeze(1), (self.padding, self.padding), mode="reflect"
        )
        spectrum: torch.Tensor = torch.stft(
            padded.squeeze(1),
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            window=self.window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        return spectrum
