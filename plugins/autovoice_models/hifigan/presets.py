"""The published HiFi-GAN generators, and fitting one to an audio setup (torch-free).

V1, V2 and V3 are the generators of Kong et al., "HiFi-GAN: Generative Adversarial Networks for
Efficient and High Fidelity Speech Synthesis" (NeurIPS 2020), for 80-band mels with a hop of 256
samples at 22050 Hz.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from autovoice.errors import ConfigError, ConfigIssue


@attrs.frozen(kw_only=True)
class GeneratorPreset:
    """Hyper-parameters of one generator (the ``config_v*.json`` of the reference code)."""

    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock: int
    """1: two convolutions per dilation; 2: one (lighter, V3)."""
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilations: tuple[tuple[int, ...], ...]


_V1 = GeneratorPreset(
    upsample_rates=(8, 8, 2, 2),
    upsample_kernel_sizes=(16, 16, 4, 4),
    upsample_initial_channel=512,
    resblock=1,
    resblock_kernel_sizes=(3, 7, 11),
    resblock_dilations=((1, 3, 5), (1, 3, 5), (1, 3, 5)),
)

PRESETS: dict[str, GeneratorPreset] = {
    "v1": _V1,
    "v2": attrs.evolve(_V1, upsample_initial_channel=128),  # the paper's V2: V1, a quarter wide
    "v3": GeneratorPreset(
        upsample_rates=(8, 8, 4),
        upsample_kernel_sizes=(16, 16, 8),
        upsample_initial_channel=256,
        resblock=2,
        resblock_kernel_sizes=(3, 5, 7),
        resblock_dilations=((1, 2), (2, 6), (3, 12)),
    ),
}

_PATH = "$.vocoder.options"


def _rates_issue(preset: str, rates: tuple[int, ...], custom: bool, hop_length: int) -> str:
    product = math.prod(rates)
    source = "upsample_rates" if custom else f"preset {preset!r} upsamples by"
    shown = " × ".join(str(r) for r in rates)
    return (
        f"{source} {list(rates)} multiply to {product} ({shown}), but $.audio.hop_length is "
        f"{hop_length}: the generator makes one hop of samples per mel frame, so the two must be "
        "equal (set vocoder.options.upsample_rates to factors of the hop length)"
    )


def _kernel_issue(rates: tuple[int, ...], kernels: tuple[int, ...]) -> str | None:
    if len(kernels) != len(rates):
        return (
            f"has {len(kernels)} entries but upsample_rates has {len(rates)}: "
            "give one kernel size per upsampling layer"
        )
    for rate, kernel in zip(rates, kernels, strict=True):
        if kernel < rate or (kernel - rate) % 2:
            return (
                f"kernel size {kernel} for rate {rate}: each must be >= its rate and differ "
                "from it by an even number, so that every layer upsamples exactly"
            )
    return None


def _kernels_for(options: Any, preset: GeneratorPreset, rates: tuple[int, ...]) -> tuple[int, ...]:
    if options.upsample_kernel_sizes:
        return tuple(options.upsample_kernel_sizes)
    if rates == preset.upsample_rates:
        return preset.upsample_kernel_sizes
    return tuple(2 * rate + rate % 2 for rate in rates)  # kernel - rate even: exact lengths


def resolve_generator(options: Any, *, hop_length: int) -> GeneratorPreset:
    """The generator that ``options`` (a :class:`~.spec.HifiGanOptions`) asks for: the preset,
    with the upsampling and width overrides applied, checked against ``hop_length``."""
    preset = PRESETS[options.preset]
    rates = tuple(options.upsample_rates) or preset.upsample_rates
    kernels = _kernels_for(options, preset, rates)
    issues = []
    if math.prod(rates) != hop_length:
        rates_path = f"{_PATH}.upsample_rates" if options.upsample_rates else f"{_PATH}.preset"
        message = _rates_issue(options.preset, rates, bool(options.upsample_rates), hop_length)
        issues.append(ConfigIssue(rates_path, message))
    kernel_problem = _kernel_issue(rates, kernels)
    if kernel_problem is not None:
        issues.append(ConfigIssue(f"{_PATH}.upsample_kernel_sizes", kernel_problem))
    channels = options.upsample_initial_channel or preset.upsample_initial_channel
    if channels >> len(rates) < 1:
        issues.append(
            ConfigIssue(
                f"{_PATH}.upsample_initial_channel",
                f"{channels} channels cannot be halved {len(rates)} times (once per upsampling "
                f"layer): use at least {2 ** len(rates)}",
            )
        )
    if issues:
        raise ConfigError(issues)
    return attrs.evolve(
        preset,
        upsample_rates=rates,
        upsample_kernel_sizes=kernels,
        upsample_initial_channel=channels,
    )


__all__ = ["PRESETS", "GeneratorPreset", "resolve_generator"]
