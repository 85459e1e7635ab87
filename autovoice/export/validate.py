"""Parity of an exported graph with PyTorch: run both on the same inputs, compare every output.

:func:`acoustic_cases`, :func:`converter_cases` and :func:`vocoder_cases` make short, typical and
long inputs at batch sizes 1 and 4 (mixed lengths within a batch); :func:`validate_exported_model`
runs them through ONNX Runtime (CPU) and the module and raises :class:`ExportValidationError` at
the first output outside the tolerance that no rounding tie explains (:mod:`.rounding`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import attrs
import numpy as np
import torch

from autovoice.export.errors import ExportValidationError
from autovoice.export.onnx import example_tensors
from autovoice.export.rounding import RoundedValues, with_ties_flipped
from autovoice.signature import GraphSignature

__all__ = [
    "CaseResult",
    "ValidationCase",
    "ValidationLengths",
    "ValidationReport",
    "acoustic_cases",
    "converter_cases",
    "validate_exported_model",
    "vocoder_cases",
]

LABELS = ("short", "typical", "long")
PACES = (1.0, 0.8, 1.25, 1.5)
CONTROL_CASES = {"pitch_shift": (0.0, 3.0, -4.0, 0.0), "energy_scale": (1.0, 1.0, 0.7, 1.5)}
"""Values of the acoustic controls the cases take in turn (a graph without them ignores them)."""


@attrs.frozen(kw_only=True)
class ValidationCase:
    """One set of inputs, by input name, and its label in messages."""

    name: str
    inputs: Mapping[str, np.ndarray]


@attrs.frozen(kw_only=True)
class ValidationLengths:
    """Short, typical and long input lengths: tokens of text, frames of mel."""

    tokens: tuple[int, int, int] = (8, 64, 256)
    frames: tuple[int, int, int] = (16, 128, 512)
    batch_sizes: tuple[int, ...] = (1, 4)


@attrs.frozen(kw_only=True)
class CaseResult:
    name: str
    max_abs_diff: Mapping[str, float]
    ties: int = 0
    """Roundings at .5 that ONNX Runtime took the other way (see :mod:`.rounding`)."""


@attrs.frozen(kw_only=True)
class ValidationReport:
    """Largest absolute difference of every output in every case."""

    tolerance: float
    cases: tuple[CaseResult, ...]

    @property
    def ties(self) -> int:
        return sum(c.ties for c in self.cases)

    @property
    def worst(self) -> float:
        return max((d for c in self.cases for d in c.max_abs_diff.values()), default=0.0)


def _lengths(longest: int, batch: int) -> np.ndarray:
    """``longest`` first, then shorter ones down to about a quarter of it."""
    fractions = np.linspace(1.0, 0.25, batch) if batch > 1 else np.ones(1)
    return np.maximum(1, np.round(longest * fractions)).astype(np.int64)


def acoustic_cases(
    *, n_symbols: int, n_speakers: int, lengths: ValidationLengths, seed: int = 0
) -> list[ValidationCase]:
    """Random token sequences (padded with 0 past each length), speakers, paces and the
    values of the speech controls."""
    rng = np.random.default_rng(seed)
    cases = []
    for label, longest in zip(LABELS, lengths.tokens, strict=True):
        for batch in lengths.batch_sizes:
            token_lengths = _lengths(longest, batch)
            tokens = rng.integers(1, max(n_symbols, 2), size=(batch, longest), dtype=np.int64)
            tokens[np.arange(longest)[None, :] >= token_lengths[:, None]] = 0
            inputs = {
                "tokens": tokens,
                "token_lengths": token_lengths,
                "speakers": rng.integers(0, max(n_speakers, 1), size=batch, dtype=np.int64),
                "pace": np.resize(np.array(PACES, dtype=np.float32), batch),
                **{
                    name: np.resize(np.array(values, dtype=np.float32), batch)
                    for name, values in CONTROL_CASES.items()
                },
            }
            cases.append(ValidationCase(name=f"{label} (batch {batch})", inputs=inputs))
    return cases


def _random_mel(rng: np.random.Generator, shape: tuple[int, ...], floor: float) -> np.ndarray:
    """Log-mel-like values: smooth random curves between ``floor`` and about 2."""
    walk = np.cumsum(rng.normal(0.0, 0.3, size=shape), axis=-1)
    return np.clip(-5.0 + walk, floor, 2.0).astype(np.float32)


def vocoder_cases(
    *, n_mels: int, lengths: ValidationLengths, floor: float = -11.5, seed: int = 0
) -> list[ValidationCase]:
    """Log-mel-like inputs (see :func:`_random_mel`)."""
    rng = np.random.default_rng(seed)
    cases = []
    for label, frames in zip(LABELS, lengths.frames, strict=True):
        for batch in lengths.batch_sizes:
            mel = _random_mel(rng, (batch, n_mels, frames), floor)
            cases.append(ValidationCase(name=f"{label} (batch {batch})", inputs={"mel": mel}))
    return cases


def converter_cases(
    *, n_mels: int, n_speakers: int, lengths: ValidationLengths, floor: float = -11.5, seed: int = 0
) -> list[ValidationCase]:
    """Log-mel-like source mels of mixed lengths (``floor`` past each length) and target
    speakers."""
    rng = np.random.default_rng(seed)
    cases = []
    for label, frames in zip(LABELS, lengths.frames, strict=True):
        for batch in lengths.batch_sizes:
            mel_lengths = _lengths(frames, batch)
            padding = np.arange(frames)[None, None, :] >= mel_lengths[:, None, None]
            mel = np.where(padding, floor, _random_mel(rng, (batch, n_mels, frames), floor))
            mel = mel.astype(np.float32)
            inputs = {
                "mel": mel,
                "mel_lengths": mel_lengths,
                "speakers": rng.integers(0, max(n_speakers, 1), size=batch, dtype=np.int64),
            }
            cases.append(ValidationCase(name=f"{label} (batch {batch})", inputs=inputs))
    return cases


def _session(onnx_path: Path) -> object:
    import onnxruntime as ort

    return ort.InferenceSession(os.fspath(onnx_path), providers=["CPUExecutionProvider"])


def _torch_outputs(
    module: torch.nn.Module, signature: GraphSignature, case: ValidationCase
) -> list[np.ndarray]:
    with torch.no_grad():
        result = module(*example_tensors(signature, case.inputs))
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    return [o.detach().cpu().numpy() for o in outputs]


def _max_abs_diff(actual: np.ndarray, expected: np.ndarray) -> float:
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    return float(np.nan_to_num(diff, nan=np.inf).max(initial=0.0))


LOG_FLOOR = 1e-5
"""Linear magnitudes are compared as logs, floored here (their quietest meaningful level)."""


def _peak(values: np.ndarray) -> float:
    """The scale an output is compared at when its head says so: its largest magnitude, at
    least 1 (a near-silent case is then compared as is)."""
    return max(float(np.abs(values.astype(np.float64)).max(initial=0.0)), 1.0)


def _as_compared(values: np.ndarray, log: bool) -> np.ndarray:
    """An output whose values span orders of magnitude (a linear magnitude: its head says so) is
    compared as ``log(max(x, LOG_FLOOR))``, so the tolerance bounds its relative error; every
    other output as it is."""
    return np.log(np.maximum(values.astype(np.float64), LOG_FLOOR)) if log else values


@attrs.frozen(kw_only=True)
class _Rule:
    """How one graph's outputs are compared: the file named in errors, the tolerance, and the
    outputs compared as logs."""

    where: str
    tolerance: float
    log_outputs: frozenset[str] = frozenset()
    peak_outputs: frozenset[str] = frozenset()
    views: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    """What is compared in place of the outputs (a head's ``compared_as``, its audio bound)."""


def _compare(
    rule: _Rule,
    case: str,
    names: Sequence[str],
    got: Sequence[np.ndarray],
    want: Sequence[np.ndarray],
) -> dict[str, float]:
    where, tolerance = rule.where, rule.tolerance
    if len(got) != len(want):
        raise ExportValidationError(
            f"{where}: case {case}: {len(got)} outputs in ONNX Runtime, {len(want)} in PyTorch"
        )
    for name, actual, expected in zip(names, got, want, strict=True):
        if actual.shape != expected.shape:
            raise ExportValidationError(
                f"{where}: case {case}: output {name!r} has shape {list(actual.shape)} in ONNX "
                f"Runtime but {list(expected.shape)} in PyTorch"
            )
    label = "output {!r}"
    if rule.views is not None:
        viewed = [rule.views(dict(zip(names, values, strict=True))) for values in (got, want)]
        names, got, want = list(viewed[0]), list(viewed[0].values()), list(viewed[1].values())
        label = "{!r} made of its outputs"
    diffs = {}
    for name, actual, expected in zip(names, got, want, strict=True):
        log = name in rule.log_outputs
        diffs[name] = _max_abs_diff(_as_compared(actual, log), _as_compared(expected, log))
        peak = name in rule.peak_outputs
        if peak:
            diffs[name] /= _peak(expected)
        if not diffs[name] <= tolerance:
            kind = "max abs diff of its log" if log else "max abs diff"
            kind = "max abs diff over its peak" if peak else kind
            raise ExportValidationError(
                f"{where}: case {case}: {label.format(name)} differs from PyTorch by up to "
                f"{diffs[name]:.3g} ({kind}), more than the tolerance {tolerance:g}"
            )
    return diffs


def _explained_by_ties(
    module: torch.nn.Module,
    signature: GraphSignature,
    case: ValidationCase,
    got: Sequence[np.ndarray],
    rule: _Rule,
) -> CaseResult | None:
    """The case's result if PyTorch, with ties rounded the other way, matches ``got``."""
    if not isinstance(module, RoundedValues):
        return None
    found: dict[str, float] = {}
    names = signature.output_names

    def matches(outputs: list[np.ndarray]) -> bool:
        try:
            found.update(_compare(rule, case.name, names, got, outputs))
        except ExportValidationError:
            return False
        return True

    inputs = example_tensors(signature, case.inputs)
    flipped = with_ties_flipped(module, inputs, matches)
    return None if flipped is None else CaseResult(name=case.name, max_abs_diff=found, ties=flipped)


def _check_case(
    session: object,
    module: torch.nn.Module,
    signature: GraphSignature,
    case: ValidationCase,
    rule: _Rule,
) -> CaseResult:
    feed = {name: np.ascontiguousarray(case.inputs[name]) for name in signature.input_names}
    got = session.run(signature.output_names, feed)  # type: ignore[attr-defined]
    want = _torch_outputs(module, signature, case)
    try:
        diffs = _compare(rule, case.name, signature.output_names, got, want)
    except ExportValidationError:
        explained = _explained_by_ties(module, signature, case, got, rule)
        if explained is None:
            raise
        return explained
    return CaseResult(name=case.name, max_abs_diff=diffs)


def validate_exported_model(
    module: torch.nn.Module,
    onnx_path: str | os.PathLike[str],
    signature: GraphSignature,
    cases: Sequence[ValidationCase],
    *,
    tolerance: float,
    log_outputs: Collection[str] = (),
    peak_outputs: Collection[str] = (),
    views: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
) -> ValidationReport:
    """Run every case through ONNX Runtime (CPU) and ``module``; raise
    :class:`ExportValidationError` naming the case, the output and the largest absolute
    difference at the first output beyond ``tolerance`` (or of another shape), unless a module
    whose graph rounds (:class:`~autovoice.export.rounding.RoundedValues`) matches it with
    roundings at .5 taken the other way. The outputs named in ``log_outputs`` (those a
    vocoder's head says to, ``Head.log_compared``) are compared as logs; those in
    ``peak_outputs`` (``Head.peak_compared``) by their difference over their peak. With
    ``views`` (``Head.compared_as``), what it makes of the outputs is compared in their place
    (the names above then name its views)."""
    path = Path(onnx_path)
    session = _session(path)
    module.eval()
    rule = _Rule(
        where=os.fspath(path),
        tolerance=tolerance,
        log_outputs=frozenset(log_outputs),
        peak_outputs=frozenset(peak_outputs),
        views=views,
    )
    results = [_check_case(session, module, signature, case, rule) for case in cases]
    return ValidationReport(tolerance=tolerance, cases=tuple(results))
