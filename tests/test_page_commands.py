"""The commands, snippets and TOML tables of the vocoder and voice conversion pages run as
written, in the order each page gives them: on a demo corpus instead of the distilled one, for
a few steps instead of thousands. The TOML tables are real configuration: each structures onto
the default config without an error."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autovoice.cli import main
from tests._doc_commands import sh_commands, user_folder

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SHORT = [
    "--set", "training.max_steps=2", "--set", "training.val_every=2",
    "--set", "training.batch_size=2", "--set", "training.checkpoint_every=2",
]  # fmt: skip


def _demo_corpus(where: Path, speakers: int = 1) -> None:
    from autovoice.corpus.demo import make_demo_corpus

    make_demo_corpus(where, speakers=speakers, sentences=6, seed=0, workers=1)


def _run(args: list[str]) -> None:
    if args[0] == "train":
        args = [*args, *SHORT]
    assert main(args) == 0, args


def _snippets(page: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_folder(tmp_path, monkeypatch)
    shutil.copytree(ROOT / "configs", tmp_path / "configs")


@pytest.mark.slow
@pytest.mark.parametrize("page", ["istft.md", "magnitude_gl.md"])
def test_a_vocoder_pages_commands_run(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Train on the corpus's mels, then fine-tune on an acoustic model's (the default voice's,
    or a run's, as the page says: a short acoustic run is made for the latter first)."""
    _setup(tmp_path, monkeypatch)
    _demo_corpus(tmp_path / "data" / "hibari")
    shipped = ROOT / "autovoice" / "voices" / "default"
    (tmp_path / "autovoice" / "voices").mkdir(parents=True)
    (tmp_path / "autovoice" / "voices" / "default").symlink_to(shipped)  # only read
    found = sh_commands(DOCS / page)
    assert [c[:2] for c in found] == [["autovoice", "train"]] * 2
    acoustic = found[1][found[1].index("--acoustic") + 1]
    if acoustic.startswith("runs/"):
        _run(["train", "configs/default-voice-acoustic.toml"])
    for command in found:
        _run(command[1:])
    printed = capsys.readouterr().out
    run = found[1][found[1].index("--init") + 1]
    assert f"init from {run}" in printed
    tuned = Path(run).parent / "finetune-vocoder" / "checkpoints"
    assert any(tuned.iterdir()), f"no fine-tuned checkpoint under {tuned}"


@pytest.mark.slow
def test_the_voice_conversion_pages_commands_and_snippet_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autovoice.audio.io import read_audio, write_audio

    _setup(tmp_path, monkeypatch)
    page = DOCS / "voice_conversion.md"
    found = sh_commands(page)
    assert found[0][:3] == ["autovoice", "corpus", "demo"]
    _demo_corpus(tmp_path / found[0][3], speakers=2)  # every sentence by 4 speakers: minutes
    wav = sorted((tmp_path / found[0][3] / "wavs").glob("*.wav"))[0]
    shutil.copy(wav, tmp_path / "in.wav")
    for command in found[1:]:
        _run(command[1:])
    converted, rate = read_audio(tmp_path / "out.wav")
    assert converted.size > rate // 10
    (snippet,) = _snippets(page, "python")
    audio = np.asarray(read_audio(wav)[0], np.float32)[: 16000 // 2]
    write_audio(tmp_path / "unused.wav", audio, 16000)
    names: dict[str, Any] = {"audio": audio}
    exec(compile(snippet, str(page), "exec"), names)
    assert names["wave"].ndim == 1 and names["wave"].size > 0
    assert names["engine"].sample_rate == rate


TOML_PAGES = ("istft.md", "magnitude_gl.md", "hifigan.md", "voice_transformer.md", "tensorrt.md")


@pytest.mark.parametrize("page", TOML_PAGES)
def test_a_pages_toml_tables_are_configuration(page: str) -> None:
    """Each table, plugin options included, passes the checks a config file's would."""
    from autovoice.commands.plugins import registry
    from autovoice.config.load import parse_config

    tables = _snippets(DOCS / page, "toml")
    assert tables, f"{page} has no TOML table"
    for table in tables:
        given = tomllib.loads(table)
        config = parse_config(given, registry=registry(), source=page)
        for section, values in given.items():
            for key, value in values.get("options", {}).items():
                got = getattr(getattr(config, section).options, key)
                assert (list(got) if isinstance(got, tuple) else got) == value, (section, key)
