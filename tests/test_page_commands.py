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

from tests._doc_commands import demo_corpus, run_command, sh_commands, user_folder

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _snippets(page: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_folder(tmp_path, monkeypatch)
    shutil.copytree(ROOT / "configs", tmp_path / "configs")


@pytest.mark.slow
@pytest.mark.parametrize("page", ["istft.md", "magnitude_gl.md"])
def test_a_vocoder_pages_commandsrun_command(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Train on the corpus's mels, then fine-tune on an acoustic model's (the default voice's,
    or a run's, as the page says: a short acoustic run is made for the latter first)."""
    _setup(tmp_path, monkeypatch)
    demo_corpus(tmp_path / "data" / "hibari")
    shipped = ROOT / "autovoice" / "voices" / "default"
    (tmp_path / "autovoice" / "voices").mkdir(parents=True)
    (tmp_path / "autovoice" / "voices" / "default").symlink_to(shipped)  # only read
    found = sh_commands(DOCS / page)
    assert [c[:2] for c in found] == [["autovoice", "train"]] * 2
    acoustic = found[1][found[1].index("--acoustic") + 1]
    if acoustic.startswith("runs/"):
        run_command(["train", "configs/default-voice-acoustic.toml"])
    for command in found:
        run_command(command[1:])
    printed = capsys.readouterr().out
    run = found[1][found[1].index("--init") + 1]
    assert f"init from {run}" in printed
    tuned = Path(run).parent / "finetune-vocoder" / "checkpoints"
    assert any(tuned.iterdir()), f"no fine-tuned checkpoint under {tuned}"


@pytest.mark.slow
def test_the_voice_conversion_pages_commands_and_snippetrun_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autovoice.audio.io import read_audio, write_audio

    _setup(tmp_path, monkeypatch)
    page = DOCS / "voice_conversion.md"
    found = sh_commands(page)
    assert found[0][:3] == ["autovoice", "corpus", "demo"]
    demo_corpus(tmp_path / found[0][3], speakers=2)  # every sentence by 4 speakers: minutes
    wav = sorted((tmp_path / found[0][3] / "wavs").glob("*.wav"))[0]
    shutil.copy(wav, tmp_path / "in.wav")
    for command in found[1:]:
        run_command(command[1:])
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


# -- Python snippets ------------------------------------------------------------------------------


def _snippet(page: str) -> str:
    (snippet,) = _snippets(DOCS / page, "python")
    return snippet


def _exec(page: str, names: dict[str, Any], snippet: str | None = None) -> dict[str, Any]:
    code = snippet if snippet is not None else _snippet(page)
    exec(compile(code, str(DOCS / page), "exec"), names)
    return names


def test_the_inference_pages_snippet_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user_folder(tmp_path, monkeypatch)
    (tmp_path / "voice").symlink_to(ROOT / "autovoice" / "voices" / "default")
    names = _exec("inference.md", {})
    engine = names["engine"]
    assert names["wave"].ndim == 1 and names["wave"].size > engine.sample_rate // 2
    assert [w.ndim for w in names["waves"]] == [1, 1]
    assert capsys.readouterr().out.startswith(f"{engine.sample_rate} ")


def test_the_pitch_pages_snippet_runs() -> None:
    """On a 150 Hz tone and two utterances' f0: the tone is found, and normalization puts the
    voiced frames near zero mean."""
    rate = 22050
    t = np.arange(rate // 2) / rate
    wave = (0.5 * np.sin(2 * np.pi * 150.0 * t)).astype(np.float32)
    others = [np.array([0.0, 140.0, 160.0, 0.0], np.float32)]
    names = _exec("pitch.md", {"np": np, "wave": wave, "f0_of_every_utterance": others})
    voiced = names["f0"][names["f0"] > 0]
    assert voiced.size and abs(float(np.median(voiced)) - 150.0) < 3.0
    assert names["normalized"].shape == names["f0"].shape


@pytest.mark.slow
def test_the_data_pages_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``"cuda"`` read as ``"cpu"`` where no GPU is: every batch comes out on the device,
    its mels scaled by the statistics."""
    torch = pytest.importorskip("torch")
    user_folder(tmp_path, monkeypatch)
    demo_corpus(tmp_path / "corpus")
    (tmp_path / "voice.toml").write_text(
        '[data]\ncorpus = "corpus"\nval_fraction = 0.2\nmin_duration = 0.1\n'
        "[data.options]\nsegment_size = 0\n[training]\nbatch_size = 2\n",
        encoding="utf-8",
    )
    snippet = _snippet("data.md")
    if not torch.cuda.is_available():
        snippet = snippet.replace('"cuda"', '"cpu"')
    names = _exec("data.md", {}, snippet)
    assert set(names["loaders"]) == {"train", "val", "test"}
    assert names["stats"]["utterances"] > 0
    assert isinstance(names["batch"]["mels"], torch.Tensor)


class _Sampler:
    """Stands for a data sampler: its position is plain data."""

    def __init__(self, position: int) -> None:
        self.position = position

    def state_dict(self) -> dict[str, int]:
        return {"position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.position = state["position"]


def test_the_checkpoint_pages_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Save, resume and load as the page writes it, with small stand-ins for its names: what
    resumes is what was saved (weights, optimizer, data position), and the warm start loads
    a checkpoint of another run, made here first."""
    torch = pytest.importorskip("torch")
    from autovoice.config import Config
    from autovoice.training import CheckpointManager

    monkeypatch.chdir(tmp_path)

    def parts(seed: int) -> dict[str, Any]:
        torch.manual_seed(seed)
        modules = {name: torch.nn.Linear(3, 2) for name in ("gen", "mpd", "msd")}
        opt_g = torch.optim.AdamW(modules["gen"].parameters(), lr=1e-3)
        opt_d = torch.optim.AdamW(
            [*modules["mpd"].parameters(), *modules["msd"].parameters()], lr=1e-3
        )
        return {
            **modules,
            "opt_g": opt_g,
            "opt_d": opt_d,
            "sched_g": torch.optim.lr_scheduler.ExponentialLR(opt_g, 0.9),
            "sched_d": torch.optim.lr_scheduler.ExponentialLR(opt_d, 0.9),
        }

    base = parts(1)
    CheckpointManager("runs/base/checkpoints").save(
        {"generator": base["gen"]}, None, None, 9, 200000, {"val_loss": 0.5}, Config()
    )
    saved = parts(2)
    for name in ("gen", "mpd", "msd"):
        saved[name](torch.ones(1, 3)).sum().backward()
    saved["opt_g"].step()
    saved["opt_d"].step()
    resumed = parts(3)
    names: dict[str, Any] = {
        **saved,
        "epoch": 4,
        "step": 120,
        "config": Config(),
        "scaler": None,
        "sampler": _Sampler(17),
        "symbol_table": None,
        "models": {"generator": resumed["gen"], "mpd": resumed["mpd"], "msd": resumed["msd"]},
        "optimizers": {"generator": resumed["opt_g"], "disc": resumed["opt_d"]},
        "schedulers": {"generator": resumed["sched_g"], "disc": resumed["sched_d"]},
        "new_models": {"generator": torch.nn.Linear(3, 2)},
    }
    snippet = _snippet("checkpoints.md")
    resume_at = snippet.index("epoch, step, checkpoint =")
    _exec("checkpoints.md", names, snippet[:resume_at])
    names["sampler"] = _Sampler(0)
    _exec("checkpoints.md", names, snippet[resume_at:])
    assert (names["epoch"], names["step"]) == (4, 120)
    assert names["sampler"].position == 17
    torch.testing.assert_close(resumed["gen"].weight, saved["gen"].weight, rtol=0, atol=0)
    moments = [o.state_dict()["state"][0]["exp_avg"] for o in (resumed["opt_g"], saved["opt_g"])]
    assert float(moments[1].abs().sum()) > 0
    torch.testing.assert_close(moments[0], moments[1], rtol=0, atol=0)
    torch.testing.assert_close(
        names["new_models"]["generator"].weight, base["gen"].weight, rtol=0, atol=0
    )
    assert not names["report"].missing
