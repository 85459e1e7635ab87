"""Vocoder floor: how close each backend runs to what the machine's arithmetic allows.

The machine's speed is measured as the FLOP/s of a large float32 matrix product (the fastest
of PyTorch, numpy and ONNX Runtime, at the run's thread count; on a GPU PyTorch in FP32 and
FP16). A vocoder's cost is its counted FLOPs per second of
audio (multiply-adds of every convolution, see ``benchmarks._flops``). Their quotient is the
*floor*: the real-time factor the vocoder would reach running at the matrix product's speed.
Each backend's measured real-time factor on 5 s of audio (one mel, warm-up excluded) is then
reported as a multiple of the floor, and as the fraction of peak FLOP/s it achieves.

Measured: the benchmarked voice's vocoder stage, its graph then its head, on every autovoice
backend usable here (once when its head needs no graph, as Griffin-Lim from the mel: numpy
whatever the backend), the published HiFi-GAN V1, V2 and V3 generators (random weights) on
PyTorch eager and ONNX Runtime on the CPU, and Griffin-Lim from the mel at its defaults. A graph's
count comes from the module its plugin's recipe exports; a head's is an estimate
(``benchmarks._flops.head_flops``: ``2.5 n log2 n`` per real FFT); FFTs are bound by memory more
than arithmetic, so a head sits further from a matrix product's peak.
"""

from __future__ import annotations

import importlib.util
import tempfile
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks._common import bench_threads, markdown_table, pin_torch_threads, summary, timed
from benchmarks._flops import count_flops, head_flops
from benchmarks._peak import peaks
from benchmarks._speakers import autovoice_systems, load_speaker, registry
from benchmarks._voice import bench_voice

SECONDS = 5.0
PRESETS = ("v1", "v2", "v3")
MEL_HEAD = "mel_griffin_lim"
"""The head measured alone for scale: Griffin-Lim from the mel, no graph."""


def _mel(frames: int, n_mels: int) -> Any:
    import numpy as np

    rng = np.random.default_rng(0)
    return (rng.standard_normal((1, n_mels, frames)) * 2.0 - 5.0).astype(np.float32)


def flops_per_audio_second(generator: Any, n_mels: int, hop: int, sample_rate: int) -> float:
    """Counted FLOPs of ``generator`` per second of audio it makes (from 5 s of mel)."""
    import torch

    frames = round(SECONDS * sample_rate / hop)
    flops = count_flops(generator, torch.from_numpy(_mel(frames, n_mels)))
    return flops / (frames * hop / sample_rate)


def floor_row(
    name: str, backend: str, rtf: float, flops_per_s: float, peak: float
) -> dict[str, Any]:
    """A measured real-time factor against the floor ``flops_per_s / peak``."""
    floor = flops_per_s / peak
    return {
        "vocoder": name,
        "backend": backend,
        "gflops_per_audio_s": flops_per_s / 1e9,
        "floor_rtf": floor,
        "rtf": rtf,
        "x_floor": rtf / floor,
        "peak_fraction": floor / rtf,
    }


def _rtf(call: Callable[[], Any], seconds: float, warmup: int, repeats: int) -> float:
    times = timed(call, warmup=warmup, repeats=repeats, budget_s=repeats / 2, min_repeats=3)
    return float(summary(times)["median_s"] / seconds)


def graph_flops(plugin: str, options: Any, audio: Any) -> float:
    """Counted FLOPs per second of audio of the vocoder ``plugin``'s exported graph, rebuilt
    through the plugin's own recipe from its bundle options (random weights: the count only
    depends on the shapes)."""
    from autovoice.config.schema import TrainingConfig
    from autovoice.config.structure import structure

    spec = registry().get("vocoder", plugin)
    built = None
    if spec.options_type is not None:
        built = structure(dict(options), spec.options_type, path="$.vocoder.options")
    recipe = spec.create(built, audio=audio, n_symbols=0, n_speakers=1, training=TrainingConfig())
    module = recipe.export_module()
    return flops_per_audio_second(module, audio.n_mels, audio.hop_length, audio.sample_rate)


def _head_cost(head: str, options: Any, audio: Any) -> float:
    return head_flops(
        head,
        options,
        sample_rate=audio.sample_rate,
        n_fft=audio.n_fft,
        hop_length=audio.hop_length,
        n_mels=audio.n_mels,
    )


def _peak_for(system: str, found: dict[str, float]) -> float:
    if "cuda" in system or system.startswith("tensorrt"):
        dtype = "float16" if system.endswith("fp16") else "float32"
        return found.get(f"cuda-{dtype}", found["cpu-float32"])
    return found["cpu-float32"]


def _usable_systems() -> list[str]:
    from autovoice.inference.stages import gpu_present

    reg = registry()
    usable = {e.spec.name for e in reg.entries("backend") if e.spec.availability().available}
    return list(autovoice_systems(usable, gpu_present()))


def bench_voice_vocoder(
    path: Path, found: dict[str, float], warmup: int, repeats: int
) -> list[dict[str, Any]]:
    """The voice's vocoder stage (its graph, then its head) on every autovoice backend here,
    against its floor: the graph's counted FLOPs plus its head's estimate. A head with no graph
    (numpy, the same on every backend) is measured once."""
    from autovoice.bundle import VoiceBundle
    from autovoice.heads import get_head

    bundle = VoiceBundle.open(path)
    audio, info = bundle.audio, bundle.stage("vocoder")
    head = get_head(info.head)
    frames = round(SECONDS * audio.sample_rate / audio.hop_length)
    seconds = frames * audio.hop_length / audio.sample_rate
    feed = {"mel": _mel(frames, audio.n_mels)}
    systems = _usable_systems()
    cost = _head_cost(head.name, info.head_options, audio)
    if head.graph:
        cost += graph_flops(info.plugin, info.options, audio)
    else:
        systems = systems[:1]
    rows = []
    for system in systems:
        engine = load_speaker(system, voice=path, threads=bench_threads()).engine
        stage = engine.stages["vocoder"]
        rtf = _rtf(partial(stage.run, feed), seconds, warmup, repeats)
        name = f"voice ({info.plugin})"
        rows.append(floor_row(name, stage.backend, rtf, cost, _peak_for(system, found)))
    return rows


def bench_head(
    name: str, options: dict[str, Any], peak: float, warmup: int, repeats: int
) -> dict[str, Any]:
    """The head ``name`` with no graph (Griffin-Lim from the mel) on 5 s of mel, for scale."""
    from autovoice.config.schema import AudioConfig
    from autovoice.heads import get_head

    audio = AudioConfig()
    frames = round(SECONDS * audio.sample_rate / audio.hop_length)
    seconds = frames * audio.hop_length / audio.sample_rate
    head = get_head(name).bind(options, path="head_options")
    call = partial(head.synthesise, {"mel": _mel(frames, audio.n_mels)}, audio)
    rtf = _rtf(call, seconds, warmup, repeats)
    label = f"{head.head.label or name} ({head.options.iterations} it.)"
    return floor_row(label, "numpy", rtf, _head_cost(name, head.table, audio), peak)


def _onnx_session(module: Any, frames: int, n_mels: int, directory: Path) -> Any:
    import onnxruntime as ort
    import torch

    path = directory / "vocoder.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.from_numpy(_mel(20, n_mels)),),
            str(path),
            input_names=["mel"],
            output_names=["audio"],
            dynamic_axes={"mel": {0: "batch", 2: "frames"}, "audio": {0: "batch", 1: "samples"}},
            opset_version=17,
            dynamo=False,
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = bench_threads()
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def bench_preset(
    preset: str, peak: float, warmup: int, repeats: int, tmp: Path
) -> list[dict[str, Any]]:
    """A published generator (random weights) on PyTorch eager and ONNX Runtime (CPU)."""
    import torch

    from autovoice.config.schema import AudioConfig
    from autovoice_models.hifigan.recipe import build_generator
    from autovoice_models.hifigan.spec import HifiGanOptions

    audio = AudioConfig()
    generator = build_generator(HifiGanOptions(preset=preset), audio).folded_copy()
    cost = flops_per_audio_second(generator, audio.n_mels, audio.hop_length, audio.sample_rate)
    frames = round(SECONDS * audio.sample_rate / audio.hop_length)
    seconds = frames * audio.hop_length / audio.sample_rate
    mel = _mel(frames, audio.n_mels)
    tensor = torch.from_numpy(mel)

    def eager() -> None:
        with torch.inference_mode():
            generator(tensor)

    rows = [floor_row(preset, "pytorch", _rtf(eager, seconds, warmup, repeats), cost, peak)]
    if importlib.util.find_spec("onnxruntime") is not None:
        session = _onnx_session(generator, frames, audio.n_mels, tmp)
        rtf = _rtf(lambda: session.run(None, {"mel": mel}), seconds, warmup, repeats)
        rows.append(floor_row(preset, "onnxruntime", rtf, cost, peak))
    return rows


def table(result: dict[str, Any]) -> str:
    """Measured peaks, then every vocoder and backend against its floor."""
    peak_lines = [f"- {name}: {value / 1e9:.1f} GFLOP/s" for name, value in result["peaks"].items()]
    rows = markdown_table(
        [
            "vocoder",
            "backend",
            "GFLOP per audio s",
            "floor RTF",
            "measured RTF",
            "x floor",
            "% of peak",
        ],
        [
            [
                r["vocoder"],
                r["backend"],
                r["gflops_per_audio_s"],
                r["floor_rtf"],
                r["rtf"],
                r["x_floor"],
                f"{100 * r['peak_fraction']:.1f}",
            ]
            for r in result["rows"]
        ],
    )
    head = f"Matrix-product peak ({result['threads']} threads):\n\n" + "\n".join(peak_lines)
    return f"{head}\n\n{rows}"


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    threads = pin_torch_threads()
    warmup, repeats = (1, 3) if quick else (1, 10)
    found = peaks(quick)
    voice = bench_voice()
    rows = bench_voice_vocoder(voice.path, found, warmup, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        for preset in PRESETS:
            rows += bench_preset(preset, found["cpu-float32"], warmup, repeats, Path(tmp))
    rows.append(bench_head(MEL_HEAD, {"iterations": 32}, found["cpu-float32"], warmup, repeats))
    result = {
        "threads": threads,
        "voice": voice.record(),
        "seconds": SECONDS,
        "peaks": found,
        "rows": rows,
    }
    return result, table(result)
