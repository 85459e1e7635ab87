"""Exact resume: N steps straight through equal N/2 steps, a checkpoint, and N/2 more steps in a
new process that rebuilt everything from scratch (parameters and losses bit for bit, on CPU).

The training uses every generator a checkpoint restores: dropout (torch), input noise (numpy's
global generator), a random loss weight (Python's ``random``) and a shuffling sampler with its
own ``numpy.random.Generator`` whose state travels in ``extra_state``. Run as a script, this
file is the second half: ``python test_checkpoint_resume.py CHECKPOINT_DIR OUT_DIR``.
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from autovoice.training import CheckpointManager
from autovoice.training.rng import numpy_generator_state, set_numpy_generator_state

N_STEPS = 20
HALF = N_STEPS // 2
BATCH = 8


class ShuffleSampler:
    """Batches of indices in a fresh random order each epoch; resumable mid-epoch."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self.position = 0
        self.order = self.rng.permutation(size)

    def next_batch(self) -> np.ndarray:
        if self.position + BATCH > self.size:
            self.epoch += 1
            self.position = 0
            self.order = self.rng.permutation(self.size)
        batch = self.order[self.position : self.position + BATCH]
        self.position += BATCH
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "order": torch.from_numpy(self.order.copy()),
            "rng": numpy_generator_state(self.rng),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self.order = state["order"].numpy()
        set_numpy_generator_state(self.rng, state["rng"])


def data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(1234)
    x = rng.normal(size=(36, 6)).astype(np.float32)
    y = (x @ rng.normal(size=(6, 1))).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


def build(seed: int) -> tuple[torch.nn.Module, Any, Any, ShuffleSampler]:
    """Everything from scratch; ``seed`` decides the initial weights and every generator."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.02, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.8)
    return model, optimizer, scheduler, ShuffleSampler(36, seed)


def train(parts: tuple[Any, ...], steps: int) -> list[float]:
    model, optimizer, scheduler, sampler = parts
    x, y = data()
    losses = []
    for _ in range(steps):
        index = torch.from_numpy(sampler.next_batch())
        noise = torch.from_numpy(np.random.normal(0.0, 0.05, size=(BATCH, 6)).astype(np.float32))
        weight = 1.0 + random.random()
        loss = weight * torch.nn.functional.mse_loss(model(x[index] + noise), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def second_half(checkpoint_dir: str, out_dir: str) -> None:
    """Rebuild with other seeds, resume from the latest checkpoint, train to N."""
    torch.set_num_threads(1)
    parts = build(seed=999)
    model, optimizer, scheduler, sampler = parts
    manager = CheckpointManager(checkpoint_dir)
    epoch, step, checkpoint = manager.resume_from_checkpoint("latest", model, optimizer, scheduler)
    sampler.load_state_dict(checkpoint.extra_state["sampler"])
    losses = train(parts, N_STEPS - step)
    out = Path(out_dir)
    (out / "losses.json").write_text(json.dumps({"epoch": epoch, "step": step, "losses": losses}))
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, out / "params.safetensors"
    )


@pytest.mark.slow
def test_resume_in_a_new_process_is_bit_identical(tmp_path: Path) -> None:
    with one_thread():
        straight = build(seed=7)
        straight_losses = train(straight, N_STEPS)
        first = build(seed=7)
        first_losses = train(first, HALF)
        model, optimizer, scheduler, sampler = first
        manager = CheckpointManager(tmp_path / "ckpt")
        manager.save(
            model,
            optimizer,
            scheduler,
            epoch=sampler.epoch,
            step=HALF,
            metrics={"train_loss": first_losses[-1]},
            config=None,
            extra_state={"sampler": sampler.state_dict()},
        )
    done = subprocess.run(
        [sys.executable, __file__, str(tmp_path / "ckpt"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    resumed = json.loads((tmp_path / "losses.json").read_text())
    assert (resumed["step"], resumed["epoch"]) == (HALF, sampler.epoch)
    assert first_losses == straight_losses[:HALF]
    assert resumed["losses"] == straight_losses[HALF:]
    params = load_file(tmp_path / "params.safetensors")
    expected = straight[0].state_dict()
    assert params.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(params[key], value), key


def test_without_restoring_the_rng_the_run_differs(tmp_path: Path) -> None:
    """The control: the same resume minus the RNG states does not reproduce the run, so the
    test above depends on them; ``load`` restores them too, unless told not to."""
    with one_thread():
        straight_losses = train(build(seed=7), N_STEPS)
        first = build(seed=7)
        train(first, HALF)
        model, optimizer, scheduler, sampler = first
        manager = CheckpointManager(tmp_path)
        state = {"sampler": sampler.state_dict()}
        manager.save(model, optimizer, scheduler, 0, HALF, {}, None, extra_state=state)
        for restore in (False, True):
            again = build(seed=999)
            checkpoint = manager.load("step-000000010", *again[:3], restore_rng=restore)
            again[3].load_state_dict(checkpoint.extra_state["sampler"])
            assert (train(again, HALF) == straight_losses[HALF:]) is restore


if __name__ == "__main__":
    second_half(sys.argv[1], sys.argv[2])
