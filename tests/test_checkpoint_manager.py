"""CheckpointManager: what a checkpoint holds, loading it back, several models, warm starts, the
fsspec store, the configuration, and the RNG state helpers."""

from __future__ import annotations

import json
import logging
import random
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from autovoice.config import CheckpointConfig, Config, unstructure
from autovoice.training import CheckpointError, CheckpointManager, NoCheckpointError
from autovoice.training.checkpoints.meta import sha256
from autovoice.training.rng import (
    capture_rng_state,
    numpy_generator_state,
    restore_rng_state,
    set_numpy_generator_state,
)
from autovoice_stores.options import FileStoreOptions
from autovoice_stores.remote import FsspecStore


class Generator(torch.nn.Module):
    def __init__(self, speakers: int = 4) -> None:
        super().__init__()
        self.speaker = torch.nn.Embedding(speakers, 6)
        self.body = torch.nn.Linear(6, 6)
        self.out = torch.nn.Linear(6, 6)
        self.out.weight = self.body.weight  # tied: the same tensor twice in the state dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x + self.speaker.weight[0]))


def gan(seed: int, speakers: int = 4) -> dict[str, Any]:
    """Generator + two discriminators, each with its own optimizer and scheduler."""
    torch.manual_seed(seed)
    models = {
        "generator": Generator(speakers),
        "mpd": torch.nn.Sequential(torch.nn.Linear(6, 3), torch.nn.BatchNorm1d(3)),
        "msd": torch.nn.Linear(6, 1),
    }
    optimizers = {n: torch.optim.AdamW(m.parameters(), lr=0.01) for n, m in models.items()}
    schedulers = {
        n: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9) for n, o in optimizers.items()
    }
    return {"model": models, "optimizer": optimizers, "scheduler": schedulers}


def step(parts: dict[str, Any]) -> None:
    for name, model in parts["model"].items():
        loss = model(torch.randn(4, 6)).pow(2).mean()
        parts["optimizer"][name].zero_grad()
        loss.backward()
        parts["optimizer"][name].step()
        parts["scheduler"][name].step()


def state_of(parts: dict[str, Any]) -> dict[str, Any]:
    return {
        kind: {name: obj.state_dict() for name, obj in parts[kind].items()}
        for kind in ("model", "optimizer", "scheduler")
    }


def equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_several_models_optimizers_and_schedulers_round_trip(tmp_path: Path) -> None:
    saved = gan(0)
    step(saved)
    scaler = torch.amp.GradScaler("cpu", init_scale=512.0)
    manager = CheckpointManager(tmp_path)
    record = manager.save(
        **saved, epoch=3, step=40, metrics={"val_loss": 0.25}, config=None, scaler=scaler
    )
    assert (record.name, record.step, record.epoch) == ("step-000000040", 40, 3)
    assert dict(record.metrics) == {"val_loss": 0.25}
    loaded = gan(1)
    assert not equal(state_of(loaded), state_of(saved))
    other_scaler = torch.amp.GradScaler("cpu")
    checkpoint = manager.load(record, **loaded, scaler=other_scaler)
    assert equal(state_of(loaded), state_of(saved))
    assert other_scaler.get_scale() == 512.0
    assert checkpoint.step == 40 and checkpoint.epoch == 3
    generator = loaded["model"]["generator"]
    assert generator.out.weight is generator.body.weight  # still tied after loading


def test_strict_load_names_what_does_not_fit(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    manager.save(**gan(0), epoch=0, step=1, metrics={}, config=None)
    partial = gan(1)
    del partial["model"]["msd"]
    with pytest.raises(CheckpointError, match="msd"):
        manager.load("step-000000001", partial["model"])
    with pytest.raises(CheckpointError, match=r"generator.*does not fit"):
        manager.load("step-000000001", gan(1, speakers=9)["model"])


def test_warm_start_skips_changed_shapes_and_reports_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    saved = gan(0)
    manager = CheckpointManager(tmp_path)
    manager.save(**saved, epoch=0, step=1, metrics={}, config=None)
    bigger = gan(1, speakers=10)["model"]
    with caplog.at_level(logging.WARNING):
        report = manager.load_weights("step-000000001", bigger)
    assert report.mismatched == (("generator/speaker.weight", (4, 6), (10, 6)),)
    assert "generator/body.weight" in report.loaded
    assert torch.equal(bigger["generator"].body.weight, saved["model"]["generator"].body.weight)
    assert torch.equal(bigger["mpd"][0].weight, saved["model"]["mpd"][0].weight)
    assert "generator/speaker.weight [4, 6] -> [10, 6]" in caplog.text
    fewer = {"generator": Generator(4), "new_head": torch.nn.Linear(2, 2)}
    report = manager.load_weights("step-000000001", fewer)
    assert set(report.missing) == {"new_head/weight", "new_head/bias"}
    assert any(key.startswith("mpd/") for key in report.unexpected)


def test_meta_records_files_config_symbols_and_origin(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    config = Config()
    symbols = {"pad": 0, "a": 1, "b": 2}
    record = manager.save(
        torch.nn.Linear(2, 2),
        None,
        None,
        1,
        7,
        {"val_loss": np.float32(0.5)},
        config,
        symbols=symbols,
    )
    folder = tmp_path / record.name
    meta = json.loads((folder / "meta.json").read_text())
    for name in ("model.safetensors", "state.pt"):
        data = (folder / name).read_bytes()
        assert meta["files"][name] == {"sha256": sha256(data), "size": len(data)}
    assert meta["config"] == json.loads(json.dumps(unstructure(config)))
    assert meta["symbols"] == symbols
    assert meta["metrics"] == {"val_loss": 0.5}
    assert meta["environment"]["torch"] == torch.__version__
    assert {"python", "platform", "git", "world_size"} <= meta["environment"].keys()
    assert record.size == sum(p.stat().st_size for p in folder.iterdir())
    loaded = manager.load(record.name, torch.nn.Linear(2, 2))
    assert loaded.symbols == symbols and loaded.config["training"] == meta["config"]["training"]


def test_best_latest_and_the_ways_to_name_a_checkpoint(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, max_keep=5, keep_best=1, metric_name="mos", mode="max")
    models = {}
    for number, mos in ((1, 3.0), (2, 4.5), (3, 4.0)):
        models[number] = torch.nn.Linear(2, 2)
        manager.save(models[number], None, None, 0, number, {"mos": mos}, None)
    target = torch.nn.Linear(2, 2)
    assert manager.load_best(target).step == 2
    assert torch.equal(target.weight, models[2].weight)
    assert manager.load_latest(target).step == 3
    assert manager.load(str(tmp_path / "step-000000001"), target).step == 1
    assert manager.load((tmp_path / "step-000000002").as_uri(), target).step == 2
    elsewhere = CheckpointManager(tmp_path / "other")
    assert elsewhere.load(tmp_path / "step-000000003", target).step == 3
    with pytest.raises(NoCheckpointError, match="mos"):
        CheckpointManager(tmp_path / "empty", metric_name="mos").load_best(target)


def test_saving_a_step_again_replaces_it(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    first, second = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    manager.save(first, None, None, 0, 5, {"val_loss": 2.0}, None)
    manager.save(second, None, None, 0, 5, {"val_loss": 1.0}, None)
    [record] = manager.list_checkpoints()
    assert record.metrics["val_loss"] == 1.0
    target = torch.nn.Linear(2, 2)
    manager.load(record, target)
    assert torch.equal(target.weight, second.weight)


def test_the_fsspec_store_serves_a_whole_run() -> None:
    uri = f"memory://run-{uuid.uuid4().hex}/checkpoints"
    manager = CheckpointManager(uri, max_keep=2, keep_best=0)
    model = torch.nn.Linear(3, 1)
    for number in range(1, 5):
        manager.save(model, None, None, 0, number, {}, None)
    assert isinstance(manager.store, FsspecStore)
    assert [r.name for r in manager.list_checkpoints()] == ["step-000000003", "step-000000004"]
    again = CheckpointManager(uri)  # another manager on the same URI sees the same run
    target = torch.nn.Linear(3, 1)
    _epoch, step_, _ = again.resume_from_checkpoint("latest", target, None, None)
    assert step_ == 4 and torch.equal(target.weight, model.weight)


def test_from_config(tmp_path: Path) -> None:
    config = CheckpointConfig(max_keep=2, keep_best=1, metric_name="mos", mode="max")
    manager = CheckpointManager.from_config(config, tmp_path / "run")
    assert manager.uri == str(tmp_path / "run")
    assert (manager.max_keep, manager.keep_best, manager.metric_name, manager.mode) == (
        2,
        1,
        "mos",
        "max",
    )
    scratch = CheckpointConfig(uri=str(tmp_path / "x"), store="file", options={"fsync": False})
    assert CheckpointManager.from_config(scratch, tmp_path).store.options == FileStoreOptions(
        fsync=False
    )
    remote = CheckpointConfig(uri=f"memory://{uuid.uuid4().hex}")
    assert isinstance(CheckpointManager.from_config(remote, tmp_path).store, FsspecStore)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_keep": 0}, "max_keep"),
        ({"keep_best": -1}, "keep_best"),
        ({"mode": "avg"}, "mode"),
        ({"metric_name": ""}, "metric_name"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        CheckpointManager(tmp_path, **kwargs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"step": -1}, "step"),
        ({"epoch": 1.5}, "epoch"),
        ({"metrics": {"val_loss": "low"}}, "val_loss"),
        ({"model": None}, "model"),
        ({"model": {"a/b": torch.nn.Linear(1, 1)}}, "'a/b'"),
        ({"config": 42}, "config"),
    ],
)
def test_bad_save_arguments_are_named(tmp_path: Path, args: dict[str, Any], message: str) -> None:
    call = {"model": torch.nn.Linear(1, 1), "optimizer": None, "scheduler": None, "epoch": 0}
    call |= {"step": 1, "metrics": {}, "config": None} | args
    with pytest.raises(CheckpointError, match=message):
        CheckpointManager(tmp_path).save(**call)
    assert list(tmp_path.iterdir()) == []


def test_rng_states_round_trip() -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    state = capture_rng_state()
    drawn = (random.random(), np.random.normal(), torch.rand(3))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    restore_rng_state(state)
    again = (random.random(), np.random.normal(), torch.rand(3))
    assert drawn[:2] == again[:2] and torch.equal(drawn[2], again[2])


def test_numpy_generator_state_round_trip() -> None:
    generator = np.random.default_rng(5)
    generator.random(3)
    state = numpy_generator_state(generator)
    expected = generator.integers(0, 1 << 60, size=4)
    set_numpy_generator_state(generator, state)
    assert (generator.integers(0, 1 << 60, size=4) == expected).all()
    legacy = np.random.Generator(np.random.MT19937(1))  # a state with an array inside
    saved = numpy_generator_state(legacy)
    values = legacy.random(2)
    set_numpy_generator_state(legacy, saved)
    assert (legacy.random(2) == values).all()


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.random()), float(torch.rand(1))


@pytest.mark.parametrize("restore", [True, False])
def test_load_restores_the_random_states_unless_told_not_to(tmp_path: Path, restore: bool) -> None:
    parts = gan(0)
    manager = CheckpointManager(tmp_path)
    record = manager.save(**parts, epoch=0, step=1, metrics={}, config=None)
    after_save = _draws()  # what a run that went on from the save drew next
    _draws()
    manager.load(record, **gan(1), restore_rng=restore)
    assert (_draws() == after_save) is restore
