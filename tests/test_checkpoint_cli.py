"""``autovoice checkpoints list`` and ``info``: what they show, and that they need no torch."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from autovoice.commands import checkpoints
from autovoice.errors import AutovoiceError
from autovoice.training import CheckpointManager


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="autovoice")
    checkpoints.register(root.add_subparsers())
    return root


def run(*argv: str) -> int:
    args = parser().parse_args(["checkpoints", *argv])
    return int(args.func(args))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """Steps 10, 20, 30 (val_loss 0.5, 0.2, 0.4), a damaged step 40 and an incomplete step 50."""
    manager = CheckpointManager(tmp_path)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step, loss in ((10, 0.5), (20, 0.2), (30, 0.4), (40, 0.1)):
        manager.save(model, optimizer, None, step // 10, step, {"val_loss": loss}, None)
    (tmp_path / "step-000000040" / "meta.json").write_text("{ not json")
    (tmp_path / "step-000000050").mkdir()
    (tmp_path / "step-000000050" / "model.safetensors").write_bytes(b"partial")
    return tmp_path


def test_list_marks_best_and_latest(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = {row["name"]: row for row in checkpoints.list_rows(str(run_dir))}
    assert rows["step-000000020"]["marks"] == ["best"]
    assert rows["step-000000030"]["marks"] == ["latest"]
    assert rows["step-000000010"]["marks"] == []
    assert rows["step-000000040"]["status"] == "damaged"
    assert rows["step-000000050"]["status"] == "incomplete"
    assert run("list", str(run_dir)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["NAME", "STEP", "EPOCH", "METRICS"]
    line = next(text for text in lines if text.startswith("step-000000020"))
    assert line.split()[1:4] == ["20", "2", "val_loss=0.2"] and line.endswith("best")
    assert any(t.startswith("step-000000040") and "damaged" in t for t in lines)


def test_list_by_another_metric_and_as_json(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("list", str(run_dir), "--mode", "max", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    best = [row["name"] for row in rows if "best" in row.get("marks", [])]
    assert best == ["step-000000010"]


def test_list_of_an_empty_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("list", str(tmp_path)) == 0
    assert "no checkpoints" in capsys.readouterr().out


def test_info_shows_contents_and_checks_every_file(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = run_dir / "step-000000030"
    info = checkpoints.checkpoint_info(str(path))
    assert info["problems"] == []
    assert info["tensors"] == {
        "model": {"tensors": 4, "values": 4 * 3 + 3 + 3 * 2 + 2, "dtypes": ["F32"]}
    }
    assert run("info", str(path)) == 0
    out = capsys.readouterr().out
    assert "step        30" in out and "integrity   ok" in out and "optimizers  optimizer" in out
    (path / "state.pt").write_bytes(b"tampered")
    assert run("info", str(path)) == 1
    out = capsys.readouterr().out
    assert "DAMAGED" in out and "state.pt is truncated" in out


def test_info_of_a_missing_checkpoint_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AutovoiceError, match="no complete checkpoint"):
        run("info", str(tmp_path / "step-000000001"))


def test_the_commands_do_not_import_torch(run_dir: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from autovoice.commands import checkpoints
        assert len(checkpoints.list_rows({str(run_dir)!r})) == 5
        assert checkpoints.checkpoint_info({str(run_dir / "step-000000010")!r})["problems"] == []
        assert "torch" not in sys.modules, "torch was imported"
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_info_counts_the_symbols_of_the_table() -> None:
    from autovoice.commands.checkpoints import _describe_symbols
    from autovoice.text import characters_table

    table = characters_table()
    assert _describe_symbols(table.to_dict()) == f"{len(table)} characters"
    assert _describe_symbols(None) == "-"


def test_list_never_marks_a_checkpoint_whose_files_are_damaged(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = run_dir / "step-000000030" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated: the newest is unusable
    rows = {row["name"]: row for row in checkpoints.list_rows(str(run_dir))}
    assert rows["step-000000030"]["status"] == "damaged"
    assert "model.safetensors is truncated" in rows["step-000000030"]["reason"]
    assert rows["step-000000020"]["marks"] == ["latest", "best"]
    assert rows["step-000000020"]["integrity"] == "sizes ok"
    state = run_dir / "step-000000020" / "state.pt"
    data = bytearray(state.read_bytes())
    data[100] ^= 0xFF  # same size, other bytes: only reading every file finds it
    state.write_bytes(bytes(data))
    quick = {row["name"]: row for row in checkpoints.list_rows(str(run_dir))}
    assert quick["step-000000020"]["marks"] == ["latest", "best"]
    assert run("list", str(run_dir), "--verify") == 0
    lines = capsys.readouterr().out.splitlines()
    line = next(text for text in lines if text.startswith("step-000000020"))
    assert "damaged" in line and "state.pt was altered" in line
    line = next(text for text in lines if text.startswith("step-000000010"))
    assert line.endswith("checksums ok  latest,best")
    (run_dir / "step-000000010" / "state.pt").unlink()
    rows = {row["name"]: row for row in checkpoints.list_rows(str(run_dir))}
    assert "state.pt is missing" in rows["step-000000010"]["reason"]
    marked = {name for name, row in rows.items() if row.get("marks")}
    assert marked == {"step-000000020"}  # its altered bytes show only with --verify
    assert not any(row.get("marks") for row in checkpoints.list_rows(str(run_dir), verify=True))
