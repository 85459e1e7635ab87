"""The iSTFT vocoder's presets, and where its inverse STFT runs: in the graph or in the head.

Every preset of the ``istft`` vocoder (random weights: the cost depends only on the shapes) makes
5 s of audio from one mel, measured three ways on the run's thread count, warm-up excluded,
median of the repeats:

- ``pytorch``: the exported module in PyTorch eager, inverse STFT in the module (the fixed-basis
  matrix product and overlap-add that ONNX gets);
- ``onnxruntime graph``: the graph with ``output = "waveform"``, inverse STFT inside;
- ``onnxruntime + istft head``: the graph with ``output = "spectrum"``, then the numpy ``istft``
  head (``numpy.fft.irfft`` and an overlap-add);
- ``onnxruntime + istft head, ...``: the same with the head's Griffin-Lim projections
  (:data:`PROJECTIONS`): 16 fast iterations over the whole band (the default voice until
  2026-12-07), and 48 on the band below 1378 Hz at an eighth of the rate (the default voice's
  since, ``projection_decimation = 8``).

Each is also given as a multiple of its floor: its counted FLOPs (every convolution and linear
layer, plus the basis product or the head's FFT estimate) at the machine's matrix-product
FLOP/s. The ratios ``graph / head`` and ``pytorch / onnxruntime`` are what choose where the
inverse STFT runs and which backend serves the vocoder.
"""

from __future__ import annotations

import importlib.util
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks._common import markdown_table, pin_torch_threads, summary, timed
from benchmarks._flops import count_flops, head_flops
from benchmarks._peak import peaks

SECONDS = 5.0
PROJECTIONS = {
    "16 projections": {"projections": 16, "projection_momentum": 0.99},
    "48 projections below 1378 Hz": {
        "projections": 48,
        "projection_momentum": 0.99,
        "projection_decimation": 8,
    },
}
"""Griffin-Lim projections of the head's other rows (its options), by the rows' labels."""


def _rtf(call: Any, seconds: float, warmup: int, repeats: int) -> float:
    times = timed(call, warmup=warmup, repeats=repeats, budget_s=repeats / 2, min_repeats=3)
    return float(summary(times)["median_s"] / seconds)


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def bench_preset(
    preset: str, peak: float, threads: int, warmup: int, repeats: int, tmp: Path
) -> dict[str, Any]:
    """One preset: parameters, counted GFLOP per audio second, and each way's RTF and floor."""
    import numpy as np
    import torch

    from autovoice.config.schema import AudioConfig, TrainingConfig
    from autovoice.export.onnx import export_onnx
    from autovoice.heads import get_head
    from autovoice_models.istft.recipe import build_recipe
    from autovoice_models.istft.spec import IstftOptions

    audio = AudioConfig()
    frames = round(SECONDS * audio.sample_rate / audio.hop_length)
    seconds = frames * audio.hop_length / audio.sample_rate
    mel = (np.random.default_rng(0).standard_normal((1, audio.n_mels, frames)) * 2 - 5).astype(
        np.float32
    )
    example = {"mel": np.concatenate([mel[:, :, :40], mel[:, :, 1:41]])}
    network, rows, params = 0.0, {}, 0
    for output in ("waveform", "spectrum"):
        torch.manual_seed(0)
        options = IstftOptions(preset=preset, output=output)
        recipe = build_recipe(options, audio=audio, training=TrainingConfig())
        module = recipe.export_module()
        network = count_flops(module, torch.from_numpy(mel)) / seconds
        path = export_onnx(
            module, recipe.signature, tmp / f"{preset}-{output}.onnx", opset=17,
            example_inputs=example,
        )  # fmt: skip
        session = _session(path, threads)
        if output == "waveform":
            cost = network  # the basis product is counted with the network

            def eager(module: Any = module) -> None:
                with torch.inference_mode():
                    module(torch.from_numpy(mel))

            rows["pytorch"] = (_rtf(eager, seconds, warmup, repeats), cost)
            run = partial(session.run, None, {"mel": mel})
            rows["onnxruntime graph"] = (_rtf(run, seconds, warmup, repeats), cost)
            params = sum(p.numel() for p in module.parameters())
        else:
            names = recipe.signature.output_names
            for label, table in {"": {}, **PROJECTIONS}.items():
                head = get_head(recipe.head or "istft").bind(table, path="head_options")

                def spectrum_then_head(
                    session: Any = session, head: Any = head, names: Any = names
                ) -> None:
                    values = dict(zip(names, session.run(None, {"mel": mel}), strict=True))
                    head.synthesise(values, audio)

                cost = network + head_flops(
                    "istft", table, sample_rate=audio.sample_rate, n_fft=audio.n_fft,
                    hop_length=audio.hop_length, n_mels=audio.n_mels,
                )  # fmt: skip
                rtf = _rtf(spectrum_then_head, seconds, warmup, repeats)
                way = "onnxruntime + istft head"
                rows[f"{way}, {label}" if label else way] = (rtf, cost)
    ways = {
        name: {
            "rtf": rtf,
            "gflops_per_audio_s": cost / 1e9,
            "floor_rtf": cost / peak,
            "x_floor": rtf / (cost / peak),
        }
        for name, (rtf, cost) in rows.items()
    }
    graph, head_way = ways["onnxruntime graph"]["rtf"], ways["onnxruntime + istft head"]["rtf"]
    return {
        "preset": preset,
        "parameters": params,
        "network_gflops_per_audio_s": network / 1e9,
        "ways": ways,
        "graph_over_head": graph / head_way,
        "pytorch_over_onnxruntime": ways["pytorch"]["rtf"] / min(graph, head_way),
    }


def table(result: dict[str, Any]) -> str:
    rows = []
    for r in result["presets"]:
        for way, w in r["ways"].items():
            rows.append([
                r["preset"], f"{r['parameters'] / 1e6:.2f}M", way, w["gflops_per_audio_s"],
                w["rtf"], w["x_floor"],
            ])  # fmt: skip
    body = markdown_table(
        ["preset", "parameters", "runs as", "GFLOP per audio s", "RTF", "x floor"], rows
    )
    ratios = [
        f"- {r['preset']}: graph / head {r['graph_over_head']:.2f}, "
        f"PyTorch / ONNX Runtime {r['pytorch_over_onnxruntime']:.2f}"
        for r in result["presets"]
    ]
    peak = result["peak_gflops"]
    return (
        f"Matrix-product peak {peak:.1f} GFLOP/s ({result['threads']} threads); "
        f"{result['seconds']:g} s of audio.\n\n{body}\n\n" + "\n".join(ratios) + "\n"
    )


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    threads = pin_torch_threads()
    if importlib.util.find_spec("onnxruntime") is None:
        raise RuntimeError(
            "the istft suite needs onnxruntime (pip install 'autovoice[onnxruntime]')"
        )
    warmup, repeats = (1, 3) if quick else (2, 10)
    peak = peaks(quick)["cpu-float32"]
    presets = ("tiny", "small") if quick else ("tiny", "small", "base", "large")
    with tempfile.TemporaryDirectory() as tmp:
        found = [bench_preset(p, peak, threads, warmup, repeats, Path(tmp)) for p in presets]
    result = {"threads": threads, "seconds": SECONDS, "peak_gflops": peak / 1e9, "presets": found}
    return result, table(result)
