"""docs/serving.md, run as written against a real server: every curl line and every Python
block (the server's address put in for ``http://localhost:8000``), and its flag table held to
the command's flags, so the page cannot drift from the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("openai")

from autovoice.server import ServerSettings, serving

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "serving.md"
DOC_URL = "http://localhost:8000"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serving-doc")
    with serving(ServerSettings(port=0, threads=1)) as base:
        for block in blocks("sh"):
            if "curl" not in block:
                continue
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.replace(DOC_URL, base)],
                cwd=folder, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, f"{block}\n{done.stderr}"
        for block in blocks("python"):
            done = subprocess.run(
                [sys.executable, "-c", block.replace(DOC_URL, base)],
                cwd=folder, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, f"{block}\n{done.stderr[-3000:]}"
    return folder


def test_the_start_commands_are_shown():
    first = blocks("sh")[0]
    assert "pip install 'autovoice[serve]'" in first and "autovoice serve" in first


def test_curl_examples(ran):
    wave, rate = sf.read(ran / "hello.wav")
    assert rate == 22050 and len(wave) > rate  # two sentences
    pcm = (ran / "hello.pcm").read_bytes()
    assert len(pcm) % 2 == 0 and len(pcm) > 22050
    voices = json.loads((ran / "voices.json").read_text())
    assert voices["voices"][0]["speakers"][0]["name"] == "hibari"
    events = [
        json.loads(line.removeprefix("data: "))
        for line in (ran / "events.txt").read_text().split("\n\n")
        if line.strip()
    ]
    assert [e["type"] for e in events] == ["speech.audio.delta"] * 2 + ["speech.audio.done"]
    assert [w["text"] for w in events[0]["words"]] == ["Time", "every", "word"]


def test_python_examples(ran):
    for name, rate in (("client.wav", 22050), ("controls.flac", 22050), ("thread.wav", 22050)):
        wave, got = sf.read(ran / name)
        assert got == rate and len(wave) > 0.3 * rate, name
    assert (ran / "client.pcm").stat().st_size > 22050


def test_the_flag_table_is_the_commands_flags():
    from autovoice.cli import build_parser

    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    flags = {o for a in serve._actions for o in a.option_strings if o.startswith("--")} - {"--help"}
    table = PAGE.read_text().split("## Starting it", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(--[a-z-]+)", table))
    assert documented == flags
