"""Every command of docs/fine-tuning.md runs (a few sentences and steps instead of hundreds), and
its table of freezable parts is what the plugins offer."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
from pathlib import Path

import pytest

from autovoice.cli import main
from tests._doc_commands import user_folder

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "fine-tuning.md"
SHORT = ["--set", "training.max_steps=2", "--set", "training.val_every=2"]


def commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def _demo_corpus(where: Path) -> None:
    from autovoice.corpus.demo import make_demo_corpus

    make_demo_corpus(where, speakers=1, sentences=8, seed=0, workers=1)


def _run(args: list[str], tmp_path: Path) -> None:
    args = [os.path.expanduser(a) for a in args]
    if args[:3] == ["corpus", "distill", "data/joe"]:
        if importlib.util.find_spec("piper") is None:
            _demo_corpus(tmp_path / "data" / "joe")  # the teacher is not installed here
            return
        args[args.index("--generated") + 1] = "8"
    if args[0] == "train":
        args += SHORT
    assert main(args) == 0, args


@pytest.mark.slow
def test_the_commands_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user_folder(tmp_path, monkeypatch)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "finetune-acoustic.toml").write_text(
        (ROOT / "configs" / "finetune-acoustic.toml").read_text()
    )
    (tmp_path / "autovoice" / "voices").mkdir(parents=True)
    (tmp_path / "autovoice" / "voices" / "default").symlink_to(ROOT / "autovoice/voices/default")
    found = [shlex.split(c) for c in commands()]
    assert [c[:2] for c in found][:2] == [["autovoice", "corpus"], ["autovoice", "prepare"]]
    for command in found:
        if command[0] == "autovoice":
            _run(command[1:], tmp_path)
    printed = capsys.readouterr().out
    assert "init from " in printed and "new speakers " in printed and "frozen: encoder" in printed
    assert "joe" in printed and "1 " in printed  # autovoice voices lists the new voice's speaker
    assert (tmp_path / "joe.wav").stat().st_size > 1000


def test_the_benchmark_command_names_the_suite_and_its_switches() -> None:
    from benchmarks import bench_finetune

    (bench,) = [c for c in commands() if "nox -s bench" in c]
    assert f"{bench_finetune.WORK_ENV}=" in bench and f"{bench_finetune.TRAIN_ENV}=1" in bench
    assert "--suite finetune" in bench
    result, table = bench_finetune.run(quick=True)  # without the switches: skipped, no training
    assert result["status"].startswith("skipped") and bench_finetune.WORK_ENV in table


@pytest.mark.slow
def test_the_table_of_parts_is_what_each_plugin_offers() -> None:
    pytest.importorskip("torch")
    from autovoice.config import Config
    from autovoice.config.load import apply_overrides, resolve_plugins
    from autovoice.plugins import Registry
    from autovoice.training.init import freezable_parts
    from autovoice.training.stages import build_recipe

    class Info:
        n_symbols, n_speakers = 10, 2

    rows = re.findall(r"^\| `(\w+)`[^|]*\| (.*) \|$", PAGE.read_text(encoding="utf-8"), re.M)
    assert len(rows) == 5
    registry = Registry.discover()
    for plugin, parts in rows:
        stage = {"voice_transformer": "acoustic", "voice_converter": "converter"}
        section = "model" if plugin in stage else "vocoder"
        config = apply_overrides(Config(), [f"{section}.name='{plugin}'"])
        config, _ = resolve_plugins(config, registry)
        recipe = build_recipe(config, stage.get(plugin, "vocoder"), Info(), registry)
        assert re.findall(r"`([\w/]+)`", parts) == freezable_parts(recipe), plugin
