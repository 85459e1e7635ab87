"""What a training run tells its user: a progress bar (steps/s, ETA, loss) and TensorBoard logs
(losses, learning rates, validation metrics, mel images, audio), on the main rank only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np


def _image(mel: np.ndarray) -> np.ndarray:
    """A (1, H, W) image in [0, 1] of a 2-D array, low frequencies at the bottom."""
    mel = np.asarray(mel, dtype=np.float32)
    low, high = float(mel.min()), float(mel.max())
    scaled = (mel - low) / (high - low) if high > low else np.zeros_like(mel)
    image: np.ndarray = scaled[None, ::-1, :].copy()
    return image


class Tracker:
    """Progress bar and TensorBoard writer; every method is a no-op when disabled."""

    def __init__(
        self,
        log_dir: str | os.PathLike[str] | None,
        *,
        log_every: int = 50,
        progress: bool = True,
        sample_rate: int = 22050,
        description: str = "train",
    ) -> None:
        self.log_dir, self.log_every, self.progress = log_dir, log_every, progress
        self.sample_rate, self.description = sample_rate, description
        self._writer: Any = None
        self._bar: Any = None

    @classmethod
    def disabled(cls) -> Tracker:
        return cls(None, progress=False)

    def _tb(self) -> Any:
        if self._writer is None and self.log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=os.fspath(self.log_dir))
        return self._writer

    def start(self, total: int, initial: int = 0) -> None:
        if self.progress:
            from tqdm import tqdm  # type: ignore[import-untyped]

            self._bar = tqdm(
                total=total, initial=initial, desc=self.description, unit="step", dynamic_ncols=True
            )

    def advance(self, step: int, losses: Mapping[str, float], lrs: Mapping[str, float]) -> None:
        if self._bar is not None:
            self._bar.update(1)
            main = next((v for k, v in losses.items() if k.endswith("/loss")), None)
            if main is not None:
                self._bar.set_postfix(loss=f"{main:.4f}", refresh=False)
        writer = self._tb()
        if writer is None or step % self.log_every:
            return
        for key, value in losses.items():
            writer.add_scalar(f"train/{key}", value, step)
        for key, value in lrs.items():
            writer.add_scalar(f"lr/{key}", value, step)

    def validation(self, step: int, metrics: Mapping[str, float]) -> None:
        if self._bar is not None and "val_loss" in metrics:
            self._bar.write(
                f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            )
        writer = self._tb()
        if writer is not None:
            for key, value in metrics.items():
                writer.add_scalar(f"val/{key}", value, step)

    def media(self, step: int, items: Mapping[str, Any]) -> None:
        writer = self._tb()
        if writer is None:
            return
        for key, value in items.items():
            array = np.asarray(value)
            if key.startswith("audio/"):
                writer.add_audio(key, array.reshape(1, -1), step, sample_rate=self.sample_rate)
            elif array.ndim == 2:
                writer.add_image(key, _image(array), step, dataformats="CHW")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
