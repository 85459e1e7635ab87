"""``torchrun --max-restarts N … autovoice train --resume auto``: a worker killed mid-run is
restarted by the supervisor and resumes from the newest complete checkpoint on its own, ending
bit-identical to a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from autovoice.corpus.demo import make_demo_corpus
from autovoice.training.checkpoints.manager import CheckpointManager

pytestmark = pytest.mark.slow

STEPS = 24


def write_config(root: Path) -> Path:
    make_demo_corpus(root / "corpus", speakers=1, sentences=8, seed=3)
    config = root / "voice.toml"
    config.write_text(
        f"""
[data]
corpus = "{root / "corpus"}"
cache_dir = "{root / "cache"}"
val_fraction = 0.15
min_duration = 0.1

[data.options]
segment_size = 0

[model.options]
preset = "tiny"

[training]
batch_size = 4
max_steps = {STEPS}
warmup_steps = 6
val_every = 100
checkpoint_every = 4
device = "cpu"

[checkpoint]
max_keep = 10
"""
    )
    return config


def torchrun(config: Path, out: Path, restarts: int) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
        "--max-restarts", str(restarts), "-m", "autovoice", "train", str(config), "--quiet",
        "--resume", "auto", "--set", f"training.output_dir='{out}'",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def newest_weights(directory: Path) -> dict[str, dict[str, torch.Tensor]]:
    manager = CheckpointManager(directory, recover=False)
    _, weights, _ = manager.read(manager.list_checkpoints()[-1].name)
    return weights


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker through /proc")
def test_a_killed_worker_is_restarted_and_resumes_exactly(tmp_path):
    config = write_config(tmp_path)
    straight = torchrun(config, tmp_path / "straight", restarts=0)
    output, _ = straight.communicate(timeout=600)
    assert straight.returncode == 0, output

    elastic = torchrun(config, tmp_path / "elastic", restarts=1)
    where = tmp_path / "elastic" / "acoustic" / "checkpoints"
    first = where / "step-000000008" / "meta.json"
    deadline = time.monotonic() + 300
    while not first.exists():
        assert elastic.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    saved = first.read_bytes()
    workers = children(elastic.pid)
    assert workers, "torchrun has no worker"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)  # mid-run, with no chance to save
    output, _ = elastic.communicate(timeout=600)
    assert elastic.returncode == 0, output
    steps = [r.step for r in CheckpointManager(where, recover=False).list_checkpoints()]
    assert steps[-1] == STEPS and 8 in steps
    assert first.read_bytes() == saved  # resumed: a fresh start would have saved step 8 anew
    ours, theirs = (
        newest_weights(where),
        newest_weights(tmp_path / "straight" / "acoustic" / "checkpoints"),
    )
    for module, tensors in theirs.items():
        for name, tensor in tensors.items():
            assert torch.equal(ours[module][name], tensor), f"{module}.{name}"
