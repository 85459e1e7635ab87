"""The README's commands and Python snippet, run as written, so its words cannot drift.

Every line of the shell block under "Using it" runs in order in one empty folder (with the
repository's ``configs/``), except the install line, which is the environment these tests run
in. Training commands get ``--set`` overrides for a few steps; nothing else is changed. The
Python block runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.slow


def blocks(language: str, section: str) -> list[str]:
    """The ``language`` code blocks of the README section headed ``section``."""
    text = README.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else None]
    return re.findall(rf"```{language}\n(.*?)```", body, flags=re.S)


def commands() -> list[str]:
    lines = [line.strip() for line in blocks("sh", "Using it")[0].splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_readme_lists_the_commands_users_need():
    listed = commands()
    assert listed[0].startswith("pip install torch==2.13.0")
    for needed in ("synthesize", "train", "export", "corpus demo", "--output-raw", "-o -"):
        assert any(needed in line for line in listed), needed


def few_steps(line: str) -> str:
    """A training command cut to a few steps (a resume goes two steps further)."""
    if " train " not in line:
        return line
    steps = 4 if "--resume" in line else 2
    code = line.partition(" #")[0]
    limits = f"training.max_steps={steps} training.val_every=2 training.checkpoint_every=2"
    sets = " ".join(f"--set {item}" for item in limits.split())
    return f"{code} {sets}"


def environment(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HOME=str(folder / "home"), OMP_NUM_THREADS="1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "configs", folder / "configs")
    env = environment(folder)
    for line in commands()[1:]:
        command = few_steps(line)
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=folder, env=env, capture_output=True, text=False, timeout=600,
        )  # fmt: skip
        stderr = done.stderr.decode(errors="replace")
        assert done.returncode == 0, f"README command failed: {command}\n{stderr[-3000:]}"
        assert "Traceback" not in stderr, f"{command}\n{stderr[-3000:]}"
    return folder


@pytest.mark.parametrize("name", ["hello.wav", "hello.flac", "piped.wav", "slow.wav"])
def test_the_commands_write_real_audio(ran, name):
    wave, rate = sf.read(ran / name, dtype="float32")
    assert rate == 22050
    assert len(wave) > rate // 4
    assert float(abs(wave).max()) > 0.05


def test_the_voice_trained_by_the_commands_speaks_into_a_file(ran):
    wave, rate = sf.read(ran / "mine.wav", dtype="float32")
    assert rate == 22050 and len(wave) >= 256  # a voice of a few steps: at least one frame


def test_raw_output_is_headerless_pcm_of_the_same_rate(ran):
    raw = (ran / "hello.raw").read_bytes()
    assert len(raw) % 2 == 0 and len(raw) > 22050
    assert not raw.startswith(b"RIFF")


def test_the_training_commands_left_checkpoints_and_a_bundle(ran):
    assert (ran / "runs" / "demo" / "acoustic" / "checkpoints").is_dir()
    assert (ran / "voices" / "demo" / "manifest.json").is_file()


def test_the_python_snippet_runs_as_written(tmp_path):
    (snippet,) = blocks("python", "Using it")
    program = snippet + "import sys\nprint('torch imported:', 'torch' in sys.modules)\n"
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    spoken, imported = done.stdout.strip().splitlines()
    seconds, _, rest = spoken.partition(" seconds at ")
    assert float(seconds) > 0.3
    assert rest == "22050 Hz"
    assert imported == "torch imported: False"  # as the snippet's comment says
