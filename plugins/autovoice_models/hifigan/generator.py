"""The HiFi-GAN generator: log-mel ``(batch, n_mels, frames)`` → waveform ``(batch, samples)``.

Transposed convolutions upsample the mel by the hop length; after each, a multi-receptive-field
fusion block (residual blocks of several kernel sizes and dilations, averaged) shapes the signal.
Every convolution carries weight normalization while training; :meth:`Generator.prepare_for_export`
folds it into plain weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

LRELU_SLOPE = 0.1


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the length of an odd-kernel convolution."""
    return (kernel_size * dilation - dilation) // 2


def _conv(channels: int, kernel_size: int, dilation: int) -> nn.Conv1d:
    conv = nn.Conv1d(
        channels,
        channels,
        kernel_size,
        dilation=dilation,
        padding=same_padding(kernel_size, dilation),
    )
    nn.init.normal_(conv.weight, 0.0, 0.01)
    return conv


class ResBlock1(nn.Module):
    """Per dilation: leaky ReLU, dilated convolution, leaky ReLU, plain convolution, residual."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, kernel_size, 1) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            xt = c1(F.leaky_relu(x, LRELU_SLOPE))
            x = x + c2(F.leaky_relu(xt, LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """Per dilation: leaky ReLU, dilated convolution, residual (the lighter block of V3)."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x


def _upsampler(channels: int, rate: int, kernel_size: int) -> nn.ConvTranspose1d:
    up = nn.ConvTranspose1d(
        channels, channels // 2, kernel_size, stride=rate, padding=(kernel_size - rate) // 2
    )
    nn.init.normal_(up.weight, 0.0, 0.01)
    return up


class Generator(nn.Module):
    """HiFi-GAN generator; flat keyword arguments (see :mod:`.presets` for the published sets)."""

    def __init__(
        self,
        *,
        n_mels: int,
        upsample_rates: Sequence[int],
        upsample_kernel_sizes: Sequence[int],
        upsample_initial_channel: int,
        resblock: int,
        resblock_kernel_sizes: Sequence[int],
        resblock_dilations: Sequence[Sequence[int]],
    ) -> None:
        super().__init__()
        self.hparams: dict[str, Any] = {
            "n_mels": n_mels,
            "upsample_rates": tuple(upsample_rates),
            "upsample_kernel_sizes": tuple(upsample_kernel_sizes),
            "upsample_initial_channel": upsample_initial_channel,
            "resblock": resblock,
            "resblock_kernel_sizes": tuple(resblock_kernel_sizes),
            "resblock_dilations": tuple(tuple(d) for d in resblock_dilations),
        }
        """The constructor's arguments: enough, with the state dict, to rebuild the generator."""
        block = ResBlock1 if resblock == 1 else ResBlock2
        self.num_kernels = len(resblock_kernel_sizes)
        self.hop_length = 1
        for rate in upsample_rates:
            self.hop_length *= rate
        channels = upsample_initial_channel
        self.conv_pre = nn.Conv1d(n_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for rate, kernel in zip(upsample_rates, upsample_kernel_sizes, strict=True):
            self.ups.append(_upsampler(channels, rate, kernel))
            channels //= 2
            for size, dilations in zip(resblock_kernel_sizes, resblock_dilations, strict=True):
                self.resblocks.append(block(channels, size, dilations))
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3)
        nn.init.normal_(self.conv_post.weight, 0.0, 0.01)
        self._apply_weight_norm()

    def _convolutions(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]

    def _apply_weight_norm(self) -> None:
        for module in self._convolutions():
            weight_norm(module)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` → ``(batch, frames * hop_length)`` in [-1, 1]."""
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x).squeeze(1)

    @property
    def has_weight_norm(self) -> bool:
        return any(parametrize.is_parametrized(m, "weight") for m in self._convolutions())

    def folded_copy(self) -> Generator:
        """A new generator in eval mode with this one's weights, weight norm folded in; this
        one is left as it is, weight norm or not (:meth:`prepare_for_export` may have folded
        it already)."""
        copy = Generator(**self.hparams)
        if not self.has_weight_norm:
            copy.prepare_for_export()  # so that its parameter names are the folded ones
        copy.load_state_dict(self.state_dict())
        reference = next(self.parameters())
        return copy.to(reference.device).eval().prepare_for_export()

    def prepare_for_export(self) -> Generator:
        """Fold weight normalization into plain weights (in place); returns ``self``.

        The folded weight is the very tensor the parametrization computes in ``forward``, so
        outputs before and after are bit-identical. A folded generator still exports
        (:meth:`folded_copy`, the recipe's ``export_module``) and folds again as a no-op; it
        trains on as a plain convolutional network.
        """
        for module in self._convolutions():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return self


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["Generator", "ResBlock1", "ResBlock2", "count_parameters"]
