"""What the tests that run a page's commands share: the page's ``sh`` commands, and a working
folder where they run as a user's would, away from this machine's voices."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from autovoice.cli import main

SHORT = [
    "--set", "training.max_steps=2", "--set", "training.val_every=2",
    "--set", "training.batch_size=2", "--set", "training.checkpoint_every=2",
]  # fmt: skip
"""What a page's training command runs with in a test: a few steps, small batches."""


def sh_commands(page: Path) -> list[list[str]]:
    """The page's ``sh`` commands as argument lists, continuation lines joined and comments
    dropped."""
    blocks = re.findall(r"```sh\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    text = "\n".join(blocks).replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in text.splitlines() if line.strip()]


def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in ``tmp_path`` with a home of its own and no voice chosen by the environment."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("XDG_DATA_HOME", "AUTOVOICE_VOICES_DIR", "AUTOVOICE_VOICE"):
        monkeypatch.delenv(name, raising=False)


def demo_corpus(where: Path, speakers: int = 1) -> None:
    """A few espeak-ng sentences instead of a distilled corpus (the teacher is a separate
    install, and slow)."""
    from autovoice.corpus.demo import make_demo_corpus

    make_demo_corpus(where, speakers=speakers, sentences=6, seed=0, workers=1)


def run_command(args: list[str]) -> None:
    """One ``autovoice`` command of a page (without the program name); training ones short."""
    if args[0] == "train":
        args = [*args, *SHORT]
    assert main(args) == 0, args
