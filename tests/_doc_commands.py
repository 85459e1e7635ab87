"""What the tests that run a page's commands share: the page's ``sh`` commands, and a working
folder where they run as a user's would, away from this machine's voices."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest


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
