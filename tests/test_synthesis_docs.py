"""Every command and snippet of docs/synthesis.md runs (on the shipped voice)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from autovoice.cli import main

PAGE = Path(__file__).resolve().parent.parent / "docs" / "synthesis.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)


def test_the_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "words.tsv").write_text("tomato\tt ə m ɑː t oʊ\n", encoding="utf-8")
    commands = [line for block in blocks("sh") for line in block.splitlines() if line.strip()]
    assert len(commands) == 3
    for command in commands:
        args = shlex.split(command)
        assert args[0] == "autovoice"
        assert main(args[1:]) == 0, command
    written = json.loads((tmp_path / "count.json").read_text())
    assert [w["text"] for w in written["words"]] == ["One", "two", "three", "Four"]


def test_the_python_snippet_runs(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    (snippet,) = blocks("python")
    exec(compile(snippet, str(PAGE), "exec"), {})
    printed = capsys.readouterr().out
    assert "('One', 0.0" in printed and "tomato" in printed and "Second one." in printed
