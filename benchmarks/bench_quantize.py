"""int8 graphs of the voice: what ONNX Runtime's quantization gives each stage, in time and error.

Each graph stage of the run's voice (its weights read into one self-contained fp32 graph) is
quantized three ways with ``onnxruntime.quantization``: dynamic (int8 weights, activations
quantized per call), static QDQ and static QOperator (int8 weights per channel, activation
ranges calibrated on what the voice itself makes from :data:`CALIBRATION` sentences: token
batches for the acoustic graph, its mels for the vocoder's). Every variant runs the same
held-out input as the fp32 graph, alternated with it, warm-up excluded, median of the repeats,
on the run's thread count. The error is the variant's mean absolute difference to the fp32
output over the fp32 output's mean absolute value (first output, over the frames both have),
and, for the acoustic graph, whether the mel lengths are the same.

The question it answers is whether int8 artifacts would pay for this voice on this CPU; a
variant that onnxruntime cannot quantize is reported with its error instead of a time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import bench_threads, markdown_table, summary, timed
from benchmarks._voice import bench_voice
from benchmarks.bench_inference import PARAGRAPH, TEXT_128

CALIBRATION = (
    "Hello there, how are you today?",
    "It was the best of times, it was the worst of times.",
    "A short one.",
    "Numbers like 42 and dates like March 3rd are read out in words.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    PARAGRAPH,
)
"""The sentences whose stage inputs calibrate the static variants' activation ranges."""
HELD_OUT = TEXT_128
"""The input every variant is timed and compared on (not among :data:`CALIBRATION`)."""
VARIANTS = ("dynamic", "static QDQ", "static QOperator")


def relative_error(reference: np.ndarray, other: np.ndarray) -> float:
    """``mean |other - reference| / mean |reference|`` over the leading slice both shapes have
    (a quantized acoustic graph may make a frame more or fewer)."""
    if reference.ndim != other.ndim:
        raise ValueError(f"outputs of rank {reference.ndim} and {other.ndim} cannot be compared")
    common = tuple(slice(0, min(a, b)) for a, b in zip(reference.shape, other.shape, strict=True))
    ref = reference[common].astype(np.float64)
    scale = float(np.mean(np.abs(ref)))
    if scale == 0.0:
        raise ValueError("the reference output is all zeros: no relative error")
    return float(np.mean(np.abs(other[common].astype(np.float64) - ref)) / scale)


class _Feeds:
    """onnxruntime's calibration reader over a list of feeds."""

    def __init__(self, feeds: Sequence[Mapping[str, np.ndarray]]) -> None:
        self._all = list(feeds)
        self._feeds: Iterator[Mapping[str, np.ndarray]] = iter(self._all)

    def get_next(self) -> Mapping[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:
        """Start again from the first feed (a calibration method may read them twice)."""
        self._feeds = iter(self._all)


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _acoustic_feeds(engine: Any, session: Any, texts: Sequence[str]) -> list[dict[str, Any]]:
    names = {i.name for i in session.get_inputs()}
    feeds = []
    for text in texts:
        batch = engine.preprocess_text([text])
        feed = {
            "tokens": batch["tokens"],
            "token_lengths": batch["token_lengths"],
            "speakers": np.zeros(1, np.int64),
            "pace": np.ones(1, np.float32),
            "pitch_shift": np.zeros(1, np.float32),
            "energy_scale": np.ones(1, np.float32),
        }
        feeds.append({k: v for k, v in feed.items() if k in names})
    return feeds


def _quantize(variant: str, source: Path, target: Path, calibration: list[Any]) -> None:
    from onnxruntime.quantization import (
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    if variant == "dynamic":
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        return
    qdq = variant == "static QDQ"
    quantize_static(
        str(source),
        str(target),
        _Feeds(calibration),  # type: ignore[arg-type]
        quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator,
        activation_type=QuantType.QInt8 if qdq else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )


def _median(session: Any, feed: Mapping[str, np.ndarray], repeats: int) -> float:
    times = timed(lambda: session.run(None, dict(feed)), warmup=3, repeats=repeats)
    return float(summary(times)["median_s"])


def _stage(
    name: str,
    fp32: Path,
    calibration: list[Any],
    held_out: Mapping[str, np.ndarray],
    threads: int,
    repeats: int,
    tmp: Path,
) -> list[dict[str, Any]]:
    base = _session(fp32, threads)
    reference = base.run(None, dict(held_out))
    rows = [{"stage": name, "variant": "fp32", "size_mb": fp32.stat().st_size / 1e6}]
    sessions: dict[str, Any] = {}
    for variant in VARIANTS:
        target = tmp / f"{name}.{variant.replace(' ', '_')}.onnx"
        row: dict[str, Any] = {"stage": name, "variant": variant}
        try:
            _quantize(variant, fp32, target, calibration)
            sessions[variant] = _session(target, threads)
        except Exception as exc:  # onnxruntime refuses some graphs: reported, not fatal
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            rows.append(row)
            continue
        out = sessions[variant].run(None, dict(held_out))
        row["size_mb"] = target.stat().st_size / 1e6
        row["relative_error"] = relative_error(reference[0], out[0])
        if name == "acoustic":
            row["same_lengths"] = bool(np.array_equal(reference[1], out[1]))
        rows.append(row)
    times: dict[str, list[float]] = {"fp32": []}
    for _ in range(2):  # alternated: fp32, then each variant, twice
        times["fp32"].append(_median(base, held_out, repeats))
        for variant, session in sessions.items():
            times.setdefault(variant, []).append(_median(session, held_out, repeats))
    fp32_s = float(np.median(times["fp32"]))
    for row in rows:
        if row["variant"] in times:
            row["seconds"] = float(np.median(times[row["variant"]]))
            row["speedup"] = fp32_s / row["seconds"]
    return rows


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    import onnx

    from autovoice.bundle.external import load_with_weights
    from autovoice.inference import VoiceInferenceEngine

    threads = bench_threads()
    voice = bench_voice()
    engine = VoiceInferenceEngine(voice.path, backend="onnxruntime", threads=threads)
    repeats = 5 if quick else 20
    calibration_texts = CALIBRATION[:2] if quick else CALIBRATION
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="autovoice-quantize-") as folder:
        tmp = Path(folder)
        graphs = {}
        for name in ("acoustic", "vocoder"):
            info = engine.bundle.stage(name)
            if info.has_graph and info.onnx is not None:
                graphs[name] = tmp / f"{name}.fp32.onnx"
                onnx.save(load_with_weights(info.onnx), str(graphs[name]))
        acoustic = _session(graphs["acoustic"], threads)
        feeds = _acoustic_feeds(engine, acoustic, calibration_texts)
        (held,) = _acoustic_feeds(engine, acoustic, [HELD_OUT])
        inputs = {"acoustic": (feeds, held)}
        mels = [{"mel": acoustic.run(None, feed)[0]} for feed in [*feeds, held]]
        inputs["vocoder"] = (mels[:-1], mels[-1])
        for name, path in graphs.items():
            calibration, held_out = inputs[name]
            rows += _stage(name, path, calibration, held_out, threads, repeats, tmp)
    result = {"voice": voice.record(), "threads": threads, "rows": rows}
    return result, table(rows)


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per stage and variant: size, median time, speed-up and error against fp32."""
    header = ["stage", "variant", "MB", "median ms", "speed-up vs fp32", "relative error", "note"]
    body = []
    for row in rows:
        seconds = row.get("seconds")
        error = row.get("relative_error")
        note = row.get("error", "")
        if row.get("same_lengths") is False:
            note = "mel lengths differ"
        body.append(
            [
                row["stage"],
                row["variant"],
                f"{row['size_mb']:.2f}" if "size_mb" in row else "",
                f"{seconds * 1000:.2f}" if seconds is not None else "",
                f"{row['speedup']:.2f}x" if "speedup" in row else "",
                f"{error:.3f}" if error is not None else "",
                note,
            ]
        )
    return markdown_table(header, body)
