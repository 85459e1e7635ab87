"""Damaged checkpoints are caught and named, resume falls back loudly, nothing is lost, and a
checkpoint crafted to run code is refused without running it."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

from autovoice.training import (
    CheckpointCorruptError,
    CheckpointManager,
    CheckpointWarning,
    CheckpointWriteError,
    NoCheckpointError,
    UnsafeCheckpointError,
    safe_load,
)
from autovoice_stores.local import LocalStore

FIRST, SECOND = "step-000000001", "step-000000002"


def net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))


def params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A directory with checkpoints of steps 1 and 2 (weights of net(1) and net(2))."""
    manager = CheckpointManager(tmp_path)
    for step in (1, 2):
        model = net(step)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        manager.save(model, optimizer, None, 0, step, {"val_loss": 1.0 / step}, None)
    return tmp_path


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGES = [
    ("model.safetensors", truncate, "truncated"),
    ("state.pt", truncate, "truncated"),
    ("model.safetensors", flip, "altered"),
    ("state.pt", flip, "altered"),
    ("meta.json", flip, "meta.json"),
    ("meta.json", truncate, "meta.json"),
]


@pytest.mark.parametrize(("filename", "damage", "says"), DAMAGES)
def test_damage_is_named_on_load_and_nothing_changes(
    run: Path, filename: str, damage: Any, says: str
) -> None:
    damage(run / SECOND / filename)
    before = files(run)
    model = net(9)
    untouched = params(model)
    manager = CheckpointManager(run)
    with pytest.raises(CheckpointCorruptError) as caught:
        manager.load(SECOND, model)
    assert SECOND in str(caught.value)
    assert filename in str(caught.value)
    assert says in str(caught.value)
    assert same(params(model), untouched)  # verified before anything was loaded
    assert files(run) == before  # a damaged checkpoint is kept for inspection
    manager.load(FIRST, model)
    assert same(params(model), params(net(1)))


@pytest.mark.parametrize(("filename", "damage", "says"), DAMAGES)
def test_resume_falls_back_loudly_to_the_newest_intact(
    run: Path, filename: str, damage: Any, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    damage(run / SECOND / filename)
    model = net(9)
    manager = CheckpointManager(run)
    with caplog.at_level(logging.WARNING), pytest.warns(CheckpointWarning, match=SECOND):
        epoch, step, checkpoint = manager.resume_from_checkpoint("latest", model, None, None)
    assert (epoch, step, checkpoint.name) == (0, 1, FIRST)
    assert same(params(model), params(net(1)))
    assert any(SECOND in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records)


def test_an_explicit_damaged_checkpoint_falls_back_to_an_older_one(run: Path) -> None:
    flip(run / SECOND / "model.safetensors")
    model = net(9)
    with pytest.warns(CheckpointWarning) as warned:
        _epoch, step, _ = CheckpointManager(run).resume_from_checkpoint(
            str(run / SECOND), model, None, None
        )
    assert step == 1
    messages = [str(w.message) for w in warned]
    assert any(f"{SECOND}/model.safetensors was altered" in m for m in messages)
    assert any(m.startswith(f"resumed from {run / FIRST}") for m in messages)


def test_with_no_intact_checkpoint_resume_refuses_to_start_over(run: Path) -> None:
    flip(run / FIRST / "state.pt")
    truncate(run / SECOND / "model.safetensors")
    model = net(9)
    untouched = params(model)
    with pytest.warns(CheckpointWarning), pytest.raises(NoCheckpointError) as caught:
        CheckpointManager(run).resume_from_checkpoint("latest", model, None, None)
    assert "no intact checkpoint" in str(caught.value)
    assert FIRST in str(caught.value) and SECOND in str(caught.value)
    assert same(params(model), untouched)


def test_resume_from_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NoCheckpointError, match="no checkpoint"):
        CheckpointManager(tmp_path).resume_from_checkpoint("latest", net(0), None, None)


def test_leftovers_of_a_crash_are_invisible_then_cleaned(run: Path) -> None:
    before = files(run)
    (run / SECOND / ".state.pt.tmp-0123456789abcdef").write_bytes(b"half")
    (run / "step-000000003").mkdir()
    (run / "step-000000003" / "model.safetensors").write_bytes(b"whole, but alone")
    (run / "notes.txt").write_text("not a checkpoint: never touched")
    reader = CheckpointManager(run, recover=False)
    assert [r.name for r in reader.list_checkpoints()] == [FIRST, SECOND]
    removed = CheckpointManager(run).recover()
    assert removed == []  # the manager above recovered already, on creation
    assert files(run) == {**before, "notes.txt": b"not a checkpoint: never touched"}


class FullDisk(LocalStore):
    """A store whose disk fills up at the ``fail_at``-th write."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(uri=root)
        self.writes = 0
        self.fail_at = fail_at

    def write_bytes(self, key: str, data: bytes) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super().write_bytes(key, data)


@pytest.mark.parametrize(("fail_at", "filename"), [(1, "model"), (2, "state"), (3, "meta")])
def test_a_full_disk_fails_the_save_clearly_and_loses_nothing(
    run: Path, fail_at: int, filename: str
) -> None:
    before = files(run)
    manager = CheckpointManager(FullDisk(run, fail_at), max_keep=1, keep_best=0)
    with pytest.raises(CheckpointWriteError) as caught:
        manager.save(net(3), None, None, 0, 3, {"val_loss": 0.1}, None)
    message = str(caught.value)
    assert "step-000000003" in message and filename in message
    assert os.strerror(errno.ENOSPC) in message
    assert files(run) == before  # no partial checkpoint, and retention did not run
    assert [r.name for r in manager.list_checkpoints()] == [FIRST, SECOND]


class Payload:
    """Unpickling this runs a shell command that creates a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def plant(run: Path, name: str, blob: bytes) -> None:
    """Replace a checkpoint's state.pt and forge its meta.json to match, as an attacker would."""
    (run / name / "state.pt").write_bytes(blob)
    meta = json.loads((run / name / "meta.json").read_text())
    meta.pop("meta_sha256")
    meta["files"]["state.pt"] = {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
    canonical = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    meta["meta_sha256"] = hashlib.sha256(canonical).hexdigest()
    (run / name / "meta.json").write_text(json.dumps(meta))


def malicious_state(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save({"extra": {}, "optimizers": {}, "evil": Payload(marker)}, buffer)
    return buffer.getvalue()


def test_a_state_crafted_to_run_code_is_refused(run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    plant(run, SECOND, malicious_state(marker))
    with pytest.raises(UnsafeCheckpointError) as caught:
        CheckpointManager(run).load(SECOND, net(0))
    assert "system" in str(caught.value) and SECOND in str(caught.value)
    with pytest.warns(CheckpointWarning, match="refusing"):
        _e, step, _c = CheckpointManager(run).resume_from_checkpoint("latest", net(0), None, None)
    assert step == 1
    assert not marker.exists()


def test_the_allow_list_holds_when_torch_s_is_widened(run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    plant(run, SECOND, malicious_state(marker))
    widened = list(torch.serialization.get_safe_globals())
    torch.serialization.add_safe_globals([os.system])  # as a careless library might
    try:
        with pytest.raises(UnsafeCheckpointError, match="system"):
            CheckpointManager(run).load(SECOND, net(0))
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(widened)
    assert not marker.exists()


def test_torch_weights_only_is_the_second_lock(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    plant(run, SECOND, malicious_state(marker))
    monkeypatch.setattr(safe_load, "refused_globals", lambda data, where: [])
    with pytest.raises(UnsafeCheckpointError, match="refusing"):
        CheckpointManager(run).load(SECOND, net(0))
    assert not marker.exists()


def test_a_plain_pickle_is_not_loaded_at_all(run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    plant(run, SECOND, pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointCorruptError, match=r"not a torch\.save zip archive"):
        CheckpointManager(run).load(SECOND, net(0))
    assert not marker.exists()


def test_saving_state_that_safe_loading_would_refuse_fails_first(run: Path) -> None:
    before = files(run)
    manager = CheckpointManager(run)
    with pytest.raises(CheckpointWriteError, match=r"PosixPath|WindowsPath"):
        manager.save(net(3), None, None, 0, 3, {}, None, extra_state={"where": Path("x")})
    assert files(run) == before
