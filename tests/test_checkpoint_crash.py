"""A save killed with SIGKILL at any point loses nothing that was saved before it.

Each case is a real process that saves checkpoint 2 over a directory holding checkpoint 1 and
stops (signals, then sleeps) at one point of the save; the test kills it there. Run as a script
(``python test_checkpoint_crash.py BASE``), this file imports torch once and forks one such
process per point, each working in ``BASE/POINT``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from autovoice.training import CheckpointManager
from autovoice_stores.local import LocalStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]

#: point -> (what the process does there, the checkpoints complete after the crash)
POINTS = {
    "inside-model-file": ("half of model.safetensors written", ["step-000000001"]),
    "after-model-file": ("model.safetensors in place", ["step-000000001"]),
    "after-state-file": ("state.pt in place, meta.json not yet", ["step-000000001"]),
    "inside-meta-file": ("half of meta.json written", ["step-000000001"]),
    "during-retention": ("checkpoint 2 complete, checkpoint 1 half deleted", ["step-000000002"]),
}


def model(step: int) -> torch.nn.Module:
    torch.manual_seed(step)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def manager(directory: str | Path, **kwargs: Any) -> CheckpointManager:
    return CheckpointManager(directory, max_keep=1, keep_best=0, **kwargs)


def save(directory: str | Path, step: int) -> None:
    state = {"data": torch.arange(1000.0 * step)}  # no optimizer: it would import dynamo
    manager(directory).save(
        model(step), None, None, 0, step, {"val_loss": 1 / step}, None, extra_state=state
    )


def _stop_here(marker: str) -> None:
    Path(marker).write_text(str(os.getpid()))
    time.sleep(300)


def crash_child(directory: str, point: str, marker: str) -> None:
    """Save checkpoint 2, stopping at ``point`` (the test kills the process there)."""
    fill, write, delete = LocalStore._fill, LocalStore.write_bytes, LocalStore.delete
    counts = {"fill": 0, "write": 0}
    inside = {"inside-model-file": 1, "inside-meta-file": 3}.get(point)
    after = {"after-model-file": 1, "after-state-file": 2}.get(point)

    def half_fill(self: LocalStore, fd: int, data: bytes) -> None:
        counts["fill"] += 1
        if counts["fill"] != inside:
            return fill(self, fd, data)
        with os.fdopen(fd, "wb") as file:
            file.write(data[: len(data) // 2])
            file.flush()
            os.fsync(file.fileno())
            _stop_here(marker)

    def write_then_stop(self: LocalStore, key: str, data: bytes) -> None:
        write(self, key, data)
        counts["write"] += 1
        if counts["write"] == after:
            _stop_here(marker)

    def delete_then_stop(self: LocalStore, key: str) -> None:
        delete(self, key)
        _stop_here(marker)

    LocalStore._fill = half_fill  # type: ignore[method-assign]
    LocalStore.write_bytes = write_then_stop  # type: ignore[method-assign]
    if point == "during-retention":
        LocalStore.delete = delete_then_stop  # type: ignore[method-assign]
    save(directory, 2)
    raise RuntimeError("the save finished: the stop point was never reached")


def fork_crashers(base: str) -> None:
    """One forked process per point (torch is imported once, here); wait for them all."""
    save(f"{base}/warm-up", 1)  # what a first save imports is imported once, here
    children = []
    for point in POINTS:
        pid = os.fork()
        if pid == 0:
            try:
                crash_child(f"{base}/{point}", point, f"{base}/{point}.marker")
            finally:
                os._exit(1)  # reached only when the child was not killed at its point
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, bytes]]]:
    """One directory per point, its files before the crash; the process was killed there."""
    base = tmp_path_factory.mktemp("crash")
    save(base / "template", 1)
    before = _files(base / "template")
    for point in POINTS:
        shutil.copytree(base / "template", base / point)
    parent = subprocess.Popen([sys.executable, __file__, str(base)], stderr=subprocess.PIPE)
    try:
        for point in POINTS:
            marker = base / f"{point}.marker"
            deadline = time.monotonic() + 120
            while not marker.exists() and parent.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert marker.exists(), f"{point}: never reached its stop point"
            time.sleep(0.01)  # the pid is written in one call; give it a moment to land
            os.kill(int(marker.read_text()), signal.SIGKILL)
        _out, err = parent.communicate(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert parent.returncode == 0, err.decode()
    return {point: (base / point, before) for point in POINTS}


@pytest.mark.parametrize("point", list(POINTS))
def test_previous_checkpoint_survives_a_kill(
    point: str, crashed: dict[str, tuple[Path, dict[str, bytes]]]
) -> None:
    directory, before = crashed[point]
    expected = POINTS[point][1]
    reader = manager(directory, recover=False)
    assert [r.name for r in reader.list_checkpoints()] == expected
    survivor = expected[0]
    net = model(99)
    reader.load(survivor, net)
    reference = model(int(survivor[-1]))
    for key, value in reference.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    if survivor == "step-000000001":
        kept = {k: v for k, v in _files(directory).items() if k.startswith(survivor)}
        assert kept == before  # not one byte of the previous checkpoint changed


@pytest.mark.parametrize("point", list(POINTS))
def test_the_next_start_removes_what_the_crash_left(
    point: str, crashed: dict[str, tuple[Path, dict[str, bytes]]]
) -> None:
    directory, _before = crashed[point]
    expected = POINTS[point][1]
    writer = manager(directory)  # recovers
    assert sorted(_files(directory)) == [
        f"{expected[0]}/{name}" for name in ("meta.json", "model.safetensors", "state.pt")
    ]
    net = model(99)
    _epoch, step, _checkpoint = writer.resume_from_checkpoint("latest", net, None, None)
    assert step == int(expected[0][-1])


if __name__ == "__main__":
    fork_crashers(sys.argv[1])
