"""Training throughput on this machine: mel frames per second of the acoustic presets and of
HiFi-GAN V2, one full optimizer step each (forward, backward, AdamW), through the generic
trainer's step code, on the CPU (the run's thread count) and on a GPU when there is one.
Batches are synthetic but shaped like speech: 16 utterances of 350 to 400 frames (70 to 100
tokens) for the acoustic model, 8 clips of 8192 samples for the vocoder.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from autovoice.config.schema import AudioConfig, Config, TrainingConfig
from autovoice.training.optim import build_optimizers
from autovoice.training.recipe import Recipe
from benchmarks._common import markdown_table, pin_torch_threads, summary, timed

AUDIO = AudioConfig()


def acoustic_batch(batch: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(350, 401, batch)
    tokens = rng.integers(70, 101, batch)
    t_max, f_max = int(tokens.max()), int(frames.max())
    tok = np.zeros((batch, t_max), dtype=np.int64)
    for i, n in enumerate(tokens):
        tok[i, :n] = rng.integers(1, 40, n)
    mels = rng.normal(-5.0, 2.0, (batch, AUDIO.n_mels, f_max)).astype(np.float32)
    pitch = np.where(rng.random((batch, f_max)) < 0.7, rng.uniform(90, 250, (batch, f_max)), 0.0)
    return {
        "tokens": torch.from_numpy(tok),
        "token_lengths": torch.from_numpy(tokens.astype(np.int64)),
        "mels": torch.from_numpy(mels),
        "mel_lengths": torch.from_numpy(frames.astype(np.int64)),
        "speakers": torch.zeros(batch, dtype=torch.int64),
        "pitch": torch.from_numpy(pitch.astype(np.float32)),
    }


def vocoder_batch(batch: int = 8, segment: int = 8192) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    audio = torch.randn(batch, segment, generator=gen) * 0.1
    return {"audio": audio, "audio_mels": torch.randn(batch, AUDIO.n_mels, segment // 256) - 5}


def step_fn(recipe: Recipe, batch: Mapping[str, Any], device: str = "cpu") -> Any:
    """One training step of ``recipe`` on ``batch``, on ``device``, as a function to time."""
    for module in recipe.modules.values():
        module.to(device).train()
    optimizers, _ = build_optimizers(recipe.optimizers, recipe.modules)
    moved = {k: v.to(device) for k, v in batch.items()}

    def run() -> None:
        scratch: dict[str, Any] = {}
        for step in recipe.steps:
            out = step.loss(moved, scratch)
            out["loss"].backward()
            optimizers[step.optimizer].step()
            optimizers[step.optimizer].zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()

    return run


def _acoustic(preset: str) -> Iterator[tuple[str, Recipe, dict[str, torch.Tensor], int]]:
    from autovoice_models.voice_transformer.recipe import build_recipe
    from autovoice_models.voice_transformer.spec import VoiceTransformerOptions

    recipe = build_recipe(
        VoiceTransformerOptions(preset=preset),
        audio=AUDIO,
        n_symbols=40,
        n_speakers=1,
        training=TrainingConfig(),
    )
    batch = acoustic_batch()
    yield f"voice_transformer {preset}", recipe, batch, int(batch["mel_lengths"].sum())


def _vocoder(discriminators: str) -> Iterator[tuple[str, Recipe, dict[str, torch.Tensor], int]]:
    from autovoice_models.hifigan.recipe import build_recipe
    from autovoice_models.hifigan.spec import HifiGanOptions

    options = HifiGanOptions(preset="v2", discriminators=discriminators)
    recipe = build_recipe(options, audio=AUDIO, training=Config().training)
    batch = vocoder_batch()
    yield f"hifigan v2 ({discriminators})", recipe, batch, int(batch["audio_mels"].shape[0] * 32)


def _istft(discriminators: str) -> Iterator[tuple[str, Recipe, dict[str, torch.Tensor], int]]:
    """The default voice's vocoder recipe: istft small, batch 16 of 16384 samples."""
    from autovoice_models.istft.recipe import build_recipe
    from autovoice_models.istft.spec import IstftOptions

    options = IstftOptions(discriminators=discriminators)
    recipe = build_recipe(options, audio=AUDIO, training=Config().training)
    batch = vocoder_batch(batch=16, segment=16384)
    frames = int(batch["audio_mels"].shape[0] * batch["audio_mels"].shape[-1])
    yield f"istft small ({discriminators})", recipe, batch, frames


def _cases(quick: bool) -> list[tuple[str, Recipe, dict[str, torch.Tensor], int]]:
    if quick:
        return [*_acoustic("tiny"), *_vocoder("none"), *_istft("none")]
    acoustic = [*_acoustic("tiny"), *_acoustic("small"), *_acoustic("base")]
    istft = [*_istft("none"), *_istft("phase"), *_istft("mrd")]
    return [*acoustic, *_vocoder("none"), *_vocoder("mpd+msd"), *istft]


def measure(
    name: str, recipe: Recipe, batch: dict[str, torch.Tensor], frames: int, device: str, quick: bool
) -> dict[str, Any]:
    """Median step time and mel frames per second of one model on one device."""
    step = step_fn(recipe, batch, device)
    times = timed(step, warmup=1, repeats=2 if quick else 5, budget_s=10.0, min_repeats=2)
    stats = summary(times)
    return {
        "model": name,
        "device": device,
        "frames_per_step": frames,
        **stats,
        "mel_frames_per_s": frames / stats["median_s"],
    }


def run(quick: bool = False) -> tuple[dict[str, Any], str]:
    threads = pin_torch_threads()
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    rows, errors = [], []
    for device in devices:
        torch.manual_seed(0)
        for name, recipe, batch, frames in _cases(quick):
            try:
                rows.append(measure(name, recipe, batch, frames, device, quick))
            except RuntimeError as exc:  # a GPU row that fails leaves the CPU rows standing
                if device == "cpu":
                    raise
                errors.append(f"{name} on {device}: {exc}")
    table = markdown_table(
        ["model", "device", "mel frames/step", "median step (s)", "mel frames/s"],
        [
            [r["model"], r["device"], r["frames_per_step"], r["median_s"], r["mel_frames_per_s"]]
            for r in rows
        ],
    )
    table += "".join(f"\n\nfailed: {e}" for e in errors)
    return {"devices": devices, "threads": threads, "rows": rows, "errors": errors}, table
