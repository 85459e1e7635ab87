"""Distributed checkpoints, two CPU processes over gloo: only rank 0 writes, every rank's RNG
state is saved and each rank gets its own back, and a failed write fails every rank."""

from __future__ import annotations

import errno
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from autovoice.training import CheckpointManager, CheckpointWriteError, safe_load
from autovoice_stores.local import LocalStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]

WORLD = 2


def draws() -> list[float]:
    return [*torch.rand(3).tolist(), float(np.random.rand()), random.random()]


def worker(rank: int, init_file: str, directory: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        report = run_rank(rank, directory)
    finally:
        dist.destroy_process_group()
    Path(out, f"rank{rank}.json").write_text(json.dumps(report))


def run_rank(rank: int, directory: str) -> dict[str, Any]:
    writes: list[str] = []
    write = LocalStore.write_bytes

    def counted(self: LocalStore, key: str, data: bytes) -> None:
        writes.append(key)
        if key.startswith("step-000000006/"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(self, key, data)

    LocalStore.write_bytes = counted  # type: ignore[method-assign]
    for seed in (torch.manual_seed, np.random.seed, random.seed):
        seed(100 + rank)
    model = torch.nn.Linear(3, 2)
    manager = CheckpointManager(directory)
    record = manager.save(model, None, None, 0, 5, {"val_loss": 1.0}, None)
    after_save = draws()
    for seed in (torch.manual_seed, np.random.seed, random.seed):
        seed(0)
    _epoch, step, _checkpoint = manager.resume_from_checkpoint("latest", model, None, None)
    failure = ""
    try:
        manager.save(model, None, None, 0, 6, {}, None)
    except CheckpointWriteError as exc:
        failure = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # rank 0 raises the store's own error
        failure = f"{type(exc).__name__}: {exc}"
    return {
        "record": record.name,
        "writes": [w for w in writes if w.startswith("step-000000005/")],
        "restored": draws() == after_save,
        "step": step,
        "failure": failure,
    }


def test_two_ranks_save_and_resume(tmp_path: Path) -> None:
    directory = tmp_path / "ckpt"
    mp.spawn(worker, args=(str(tmp_path / "init"), str(directory), str(tmp_path)), nprocs=WORLD)
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]
    assert [r["record"] for r in reports] == ["step-000000005"] * WORLD
    assert reports[0]["writes"] == [
        "step-000000005/model.safetensors",
        "step-000000005/state.pt",
        "step-000000005/meta.json",
    ]
    assert reports[1]["writes"] == []  # only rank 0 writes
    assert all(r["restored"] and r["step"] == 5 for r in reports)
    state = safe_load.load((directory / "step-000000005" / "state.pt").read_bytes(), "state.pt")
    assert len(state["rng"]) == WORLD
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])
    assert "No space left" in reports[0]["failure"]
    assert reports[1]["failure"].startswith("CheckpointWriteError: rank 0 failed")
    assert sorted(p.name for p in directory.iterdir()) == ["step-000000005"]
