"""HiFi-GAN on CPU: inference real-time factor of V1/V2/V3 and the cost of a training step.

Inference: 5 s of audio (22050 Hz, hop 256) from one mel, eager PyTorch under
``torch.inference_mode`` with weight norm folded, and ONNX Runtime when installed. The real-time
factor is seconds of compute per second of audio (below 1: faster than real time).

Training: one V2 step (every due step of the recipe, forward, backward, AdamW) on clips of 8192
samples, with spectral losses only (``discriminators = "none"``) and with the full GAN.
"""

from __future__ import annotations

import importlib.util
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from autovoice.config.schema import AudioConfig, TrainingConfig
from autovoice_models.hifigan.recipe import build_generator, build_recipe
from autovoice_models.hifigan.spec import HifiGanOptions
from benchmarks._common import markdown_table, summary, timed

AUDIO = AudioConfig()
SECONDS = 5.0
SEGMENT = 8192


def _mel(frames: int, batch: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch, AUDIO.n_mels, frames, generator=generator) * 2.0 - 5.0


def _onnx_session(module: torch.nn.Module, directory: Path) -> Any:
    import onnxruntime as ort

    path = directory / "vocoder.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (_mel(20),),
            str(path),
            input_names=["mel"],
            output_names=["audio"],
            dynamic_axes={"mel": {0: "batch", 2: "frames"}, "audio": {0: "batch", 1: "samples"}},
            opset_version=17,
            dynamo=False,
        )
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _row(preset: str, backend: str, times: list[float], seconds: float) -> dict[str, Any]:
    stats = summary(times)
    return {
        "preset": preset,
        "backend": backend,
        "audio_s": seconds,
        **stats,
        "rtf": stats["median_s"] / seconds,
    }


def bench_inference(preset: str, *, warmup: int, repeats: int, tmp: Path) -> list[dict[str, Any]]:
    generator = build_generator(HifiGanOptions(preset=preset), AUDIO).folded_copy()
    frames = round(SECONDS * AUDIO.sample_rate / AUDIO.hop_length)
    seconds = frames * AUDIO.hop_length / AUDIO.sample_rate
    mel = _mel(frames)

    def eager() -> None:
        with torch.inference_mode():
            generator(mel)

    rows = [_row(preset, "pytorch", timed(eager, warmup=warmup, repeats=repeats), seconds)]
    if importlib.util.find_spec("onnxruntime") is not None:
        session = _onnx_session(generator, tmp)
        feed = {"mel": mel.numpy()}
        times = timed(lambda: session.run(None, feed), warmup=warmup, repeats=repeats)
        rows.append(_row(preset, "onnxruntime", times, seconds))
    return rows


def _trainer_step(discriminators: str, batch: int) -> Any:
    options = HifiGanOptions(preset="v2", discriminators=discriminators, segment_size=SEGMENT)
    recipe = build_recipe(options, audio=AUDIO, training=TrainingConfig(learning_rate=2e-4))
    optimizers = {}
    for spec in recipe.optimizers:
        params = [p for name in spec.modules for p in recipe.modules[name].parameters()]
        optimizers[spec.name] = torch.optim.AdamW(params, lr=spec.lr, betas=spec.betas)
    generator = torch.Generator().manual_seed(0)
    data = {
        "audio": torch.rand(batch, SEGMENT, generator=generator) * 0.4 - 0.2,
        "audio_mels": _mel(SEGMENT // AUDIO.hop_length, batch),
    }

    def step() -> None:
        scratch: dict[str, Any] = {}
        for train_step in recipe.steps:
            optimizers[train_step.optimizer].zero_grad()
            train_step.loss(data, scratch)["loss"].backward()
            optimizers[train_step.optimizer].step()

    return step


def bench_training(*, batch: int, warmup: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for discriminators in ("none", "mpd+msd"):
        times = timed(_trainer_step(discriminators, batch), warmup=warmup, repeats=repeats)
        stats = summary(times)
        audio_s = batch * SEGMENT / AUDIO.sample_rate
        rows.append(
            {
                "preset": "v2",
                "discriminators": discriminators,
                "batch": batch,
                "segment": SEGMENT,
                **stats,
                "audio_s_per_s": audio_s / stats["median_s"],
            }
        )
    return rows


def _tables(inference: list[dict[str, Any]], training: list[dict[str, Any]]) -> str:
    first = markdown_table(
        ["preset", "backend", "audio (s)", "median (s)", "p90 (s)", "RTF", "× real time"],
        [
            [
                r["preset"],
                r["backend"],
                r["audio_s"],
                r["median_s"],
                r["p90_s"],
                r["rtf"],
                1 / r["rtf"],
            ]
            for r in inference
        ],
    )
    second = markdown_table(
        ["preset", "discriminators", "batch × samples", "median s/step", "audio s trained per s"],
        [
            [
                r["preset"],
                r["discriminators"],
                f"{r['batch']} × {r['segment']}",
                r["median_s"],
                r["audio_s_per_s"],
            ]
            for r in training
        ],
    )
    return f"HiFi-GAN inference on CPU\n\n{first}\n\nHiFi-GAN training step on CPU\n\n{second}"


def run(quick: bool) -> tuple[dict[str, Any], str]:
    warmup, repeats = (1, 3) if quick else (2, 10)
    inference = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in ("v1", "v2", "v3"):
            inference += bench_inference(preset, warmup=warmup, repeats=repeats, tmp=Path(tmp))
    batch = 2 if quick else 8
    training = bench_training(batch=batch, warmup=1, repeats=2 if quick else 5)
    result = {"threads": torch.get_num_threads(), "inference": inference, "training": training}
    return result, _tables(inference, training)


__all__ = ["run"]
