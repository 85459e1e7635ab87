"""Floating-point operations of a forward pass, counted from the layers' shapes.

A multiply-add counts as two operations and a bias add as one per output element; the
elementwise work between layers (activations, sums, tanh) is left out: in a HiFi-GAN generator it
is well under 1 % of the total. Only ``Conv1d``, ``ConvTranspose1d`` and ``Linear`` layers are
counted, which is every layer with weights in the vocoders measured here.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = [
    "conv1d_flops",
    "conv_transpose1d_flops",
    "count_flops",
    "fft_flops",
    "griffin_lim_flops",
    "head_flops",
    "linear_flops",
    "matmul_flops",
]


def conv1d_flops(
    *, batch: int, in_channels: int, out_channels: int, kernel: int, groups: int, out_length: int
) -> int:
    """Multiply-adds of a 1-D convolution (each output sees ``in/groups * kernel`` inputs)."""
    return 2 * batch * out_channels * out_length * (in_channels // groups) * kernel


def conv_transpose1d_flops(
    *, batch: int, in_channels: int, out_channels: int, kernel: int, groups: int, in_length: int
) -> int:
    """Multiply-adds of a transposed 1-D convolution: each input element is scattered to
    ``out/groups * kernel`` outputs (padding trims outputs, not work)."""
    return 2 * batch * in_channels * in_length * (out_channels // groups) * kernel


def linear_flops(*, rows: int, in_features: int, out_features: int) -> int:
    """Multiply-adds of ``rows`` vectors through a dense layer."""
    return 2 * rows * in_features * out_features


def matmul_flops(m: int, k: int, n: int) -> int:
    """Operations of an ``(m, k) @ (k, n)`` matrix product."""
    return 2 * m * k * n


def fft_flops(n: int) -> float:
    """Operations of a real FFT (or inverse) of ``n`` points: the usual ``2.5 n log2 n``."""
    return 2.5 * n * math.log2(n)


def griffin_lim_flops(
    *,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    iterations: int,
    decimation: int = 1,
) -> float:
    """Estimated operations of Griffin-Lim per second of audio. Per frame: the mel inverse (a
    matrix product), then each iteration an inverse and a forward real FFT and the elementwise
    work between them (window, overlap-add, the momentum update: about 3 per sample and 12 per
    frequency bin), and a last inverse FFT with its window and overlap-add. ``n_mels`` 0 leaves
    the mel inverse out (Griffin-Lim from a magnitude), ``iterations`` 0 the iteration (one
    inverse STFT). With ``decimation`` ``d`` the iterations run on ``n_fft / d`` points (the
    band-limited projections of the ``istft`` head), the last inverse FFT on all of them."""
    bins = n_fft // 2 + 1
    points = n_fft // decimation
    iteration = 2 * fft_flops(points) + 3 * points + 12 * (points // 2 + 1)
    frame = 2 * n_mels * bins + iterations * iteration + fft_flops(n_fft) + 2 * n_fft
    return frame * sample_rate / hop_length


@attrs.frozen
class HeadWork:
    """What a head computes, as :func:`griffin_lim_flops` counts it: whether it inverts the
    mel filterbank, and the names of its options that count iterations and (where it has
    one) their decimation."""

    inverts_mel: bool
    iterations: str
    decimation: str = ""


HEAD_WORK: dict[str, HeadWork] = {
    "istft": HeadWork(False, "projections", "projection_decimation"),
    "griffin_lim": HeadWork(False, "iterations"),
    "mel_griffin_lim": HeadWork(True, "iterations"),
}
"""Head -> its work; every such head ends in one inverse STFT. A head not listed
(``waveform``) does no counted work."""


def head_flops(
    head: str, options: Any, *, sample_rate: int, n_fft: int, hop_length: int, n_mels: int
) -> float:
    """Estimated operations per second of audio of a vocoder head (:mod:`autovoice.heads`)
    with ``options`` (its ``head_options``): what :func:`griffin_lim_flops` counts of it."""
    if head not in HEAD_WORK:
        return 0.0
    work, table = HEAD_WORK[head], dict(options)
    return griffin_lim_flops(
        sample_rate=sample_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels if work.inverts_mel else 0,
        iterations=int(table.get(work.iterations, 0)),
        decimation=int(table.get(work.decimation, 1)) if work.decimation else 1,
    )


def _layer_flops(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    import torch.nn as nn

    x = inputs[0]
    bias = int(output.numel()) if getattr(module, "bias", None) is not None else 0
    if isinstance(module, nn.Conv1d):
        batch, _, length = output.shape
        return bias + conv1d_flops(
            batch=batch,
            in_channels=module.in_channels,
            out_channels=module.out_channels,
            kernel=module.kernel_size[0],
            groups=module.groups,
            out_length=length,
        )
    if isinstance(module, nn.ConvTranspose1d):
        batch, _, length = x.shape
        return bias + conv_transpose1d_flops(
            batch=batch,
            in_channels=module.in_channels,
            out_channels=module.out_channels,
            kernel=module.kernel_size[0],
            groups=module.groups,
            in_length=length,
        )
    rows = int(x.numel()) // module.in_features
    return bias + linear_flops(
        rows=rows, in_features=module.in_features, out_features=module.out_features
    )


def count_flops(module: Any, *inputs: Any) -> int:
    """Operations of one forward pass of ``module`` (a torch module) on ``inputs``: of every
    convolution and linear layer, and of every other submodule with a ``flops(inputs, output)``
    method (one that does its own arithmetic, such as a fixed-basis product)."""
    import torch
    import torch.nn as nn

    total = [0]

    def hook(layer: Any, args: tuple[Any, ...], output: Any) -> None:
        total[0] += _layer_flops(layer, args, output)

    def counted(layer: Any, args: tuple[Any, ...], output: Any) -> None:
        total[0] += int(layer.flops(args, output))

    kinds = (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]
    handles += [
        m.register_forward_hook(counted)
        for m in module.modules()
        if not isinstance(m, kinds) and callable(getattr(m, "flops", None))
    ]
    try:
        with torch.inference_mode():
            module(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total[0]
