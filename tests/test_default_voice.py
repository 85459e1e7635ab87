"""The default voice: found in the package or through ``$AUTOVOICE_VOICE``, listed by
``autovoice voices``, and used by ``autovoice synthesize`` without ``--voice`` — also from a wheel
installed with only the ``onnxruntime`` extra into a fresh environment without torch.

The fresh environment is made offline: the wheel is built from a copy of the project holding a
tiny voice, and its dependencies are the ones installed here, made visible to the new venv
through a ``.pth`` file that names a folder of links to exactly those distributions (torch is not
among them, so it cannot be imported there).
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from autovoice.bundle import BundleError, default_voice_path
from autovoice.cli import main
from autovoice.commands.voices import list_voices, render, user_voices_dir
from autovoice.inference import open_voice

ROOT = Path(__file__).resolve().parents[1]
VOICE_FILES = ("manifest.json", "acoustic.onnx", "vocoder.onnx")


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from benchmarks._tiny_voice import make_tiny_voice

    return make_tiny_voice(tmp_path_factory.mktemp("voice"), acoustic_steps=1, vocoder_steps=1)


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the installed ``autovoice`` package folder, with no voice in it yet."""
    root = tmp_path / "site" / "autovoice"
    root.mkdir(parents=True)
    real = importlib.resources.files

    def files(anchor: Any) -> Any:
        return root if anchor == "autovoice" else real(anchor)

    monkeypatch.setattr(importlib.resources, "files", files)
    for name in ("AUTOVOICE_VOICE", "AUTOVOICE_VOICES_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return root


def ship(voice: Path, package: Path) -> Path:
    target = package / "voices" / "default"
    shutil.copytree(voice, target)
    return target


def synthesize(out: Path, *args: str) -> int:
    return main(["synthesize", "Hello there.", "-o", str(out), *args])


def read(path: Path) -> tuple[np.ndarray, int]:
    wave, rate = soundfile.read(path, dtype="float32")
    return wave, rate


# -- finding the default voice -------------------------------------------------------------------


def test_without_a_voice_synthesis_says_how_to_get_one(
    package: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert default_voice_path() is None
    assert synthesize(tmp_path / "out.wav") == 1
    error = capsys.readouterr().err
    assert "no default voice is installed" in error and "voice bundle" in error
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.slow
def test_the_shipped_voice_is_found_and_used(
    tiny_voice: Path, package: Path, tmp_path: Path
) -> None:
    (package / "voices" / "default").mkdir(parents=True)
    assert default_voice_path() is None, "a folder without a manifest is no voice"
    shutil.rmtree(package / "voices" / "default")
    shipped = ship(tiny_voice, package)
    assert default_voice_path() == shipped
    assert open_voice(None).root == shipped
    assert open_voice("default").root == shipped  # the name means the shipped voice...
    (tmp_path / "default").mkdir()
    here = os.getcwd()
    try:  # ...unless a path of that name exists, which is then what is opened
        os.chdir(tmp_path)
        with pytest.raises(BundleError, match="default"):
            open_voice("default")
    finally:
        os.chdir(here)
    out = tmp_path / "out.wav"
    assert synthesize(out) == 0
    wave, rate = read(out)
    assert rate == open_voice(None).audio.sample_rate
    assert wave.size > rate // 10 and np.abs(wave).max() > 0


@pytest.mark.slow
def test_the_environment_variable_overrides_the_shipped_voice(
    tiny_voice: Path, package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ship(tiny_voice, package)
    chosen = shutil.copytree(tiny_voice, tmp_path / "mine")
    monkeypatch.setenv("AUTOVOICE_VOICE", str(chosen))
    assert default_voice_path() == chosen
    assert open_voice("").root == chosen
    assert synthesize(tmp_path / "out.wav") == 0
    assert read(tmp_path / "out.wav")[0].size > 0


def test_an_environment_variable_naming_no_voice_is_an_error(
    package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOVOICE_VOICE", str(tmp_path / "missing"))
    with pytest.raises(BundleError, match=r"\$AUTOVOICE_VOICE: .*missing.* is not a voice"):
        default_voice_path()
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("AUTOVOICE_VOICE", str(tmp_path / "empty"))
    assert main(["voices"]) == 1


def test_the_voice_in_this_checkout_is_small_and_intact() -> None:
    from autovoice.bundle import VoiceBundle, default_voice_path

    shipped = ROOT / "autovoice" / "voices" / "default"
    bundle = VoiceBundle.open(shipped, verify=True)  # every checksum holds
    total_mb = sum(f.stat().st_size for f in shipped.iterdir()) / 1e6
    assert total_mb < 30.0  # everything the wheel carries for it
    assert bundle.speakers and bundle.stage("acoustic").onnx is not None
    assert default_voice_path() == shipped.resolve() or default_voice_path() == shipped


# -- autovoice voices ----------------------------------------------------------------------------


def test_voices_is_a_command() -> None:
    from autovoice.commands import COMMAND_MODULES

    assert "autovoice.commands.voices" in COMMAND_MODULES


@pytest.mark.slow
def test_voices_lists_the_default_and_the_user_folder(
    tiny_voice: Path,
    package: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shipped = ship(tiny_voice, package)
    folder = tmp_path / "voices"
    shutil.copytree(tiny_voice, folder / "second")
    (folder / "broken.tar").write_bytes(b"not a tar")
    (folder / "notes").mkdir()
    monkeypatch.setenv("AUTOVOICE_VOICES_DIR", str(folder))

    assert main(["voices", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["user_folder"] == str(folder)
    paths = [Path(v["path"]) for v in listing["voices"]]
    assert paths == [shipped, folder / "broken.tar", folder / "second"]
    default, broken, second = listing["voices"]
    assert (default["source"], default["default"], second["default"]) == ("shipped", True, False)
    assert "not a voice bundle" in broken["problem"]
    manifest = json.loads((tiny_voice / "manifest.json").read_text())
    assert default["sample_rate"] == manifest["audio"]["sample_rate"]
    assert default["speakers"] == [{"id": i, "name": n} for i, n in enumerate(manifest["speakers"])]
    size = sum(p.stat().st_size for p in tiny_voice.iterdir()) / 1e6
    assert default["size_mb"] == pytest.approx(size, abs=0.01)
    for stage in ("acoustic", "vocoder"):
        assert default["stages"][stage]["plugin"] == manifest[stage]["plugin"]
        assert "onnxruntime" in default["stages"][stage]["backends"]

    assert main(["voices"]) == 0
    text = capsys.readouterr().out
    assert f"* default (shipped): {manifest['name']}  {shipped}" in text
    assert "speakers: 0 " + manifest["speakers"][0] in text
    assert f"user voices folder: {folder}" in text


@pytest.mark.slow
def test_a_voice_named_by_the_variable_is_not_listed_twice(
    tiny_voice: Path, package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "voices"
    mine = shutil.copytree(tiny_voice, folder / "mine")
    monkeypatch.setenv("AUTOVOICE_VOICES_DIR", str(folder))
    monkeypatch.setenv("AUTOVOICE_VOICE", str(mine))
    voices = list_voices()["voices"]
    assert [(v["path"], v["source"]) for v in voices] == [(str(mine), "AUTOVOICE_VOICE")]


def test_no_voices_at_all(package: Path) -> None:
    listing = list_voices()
    assert listing["voices"] == []
    assert any("no voices installed" in line for line in render(listing))


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {"HOME": "/h"}, "/h/.local/share/autovoice/voices"),
        ("linux", {"HOME": "/h", "XDG_DATA_HOME": "/x"}, "/x/autovoice/voices"),
        ("darwin", {"HOME": "/h"}, "/h/Library/Application Support/autovoice/voices"),
        ("win32", {"HOME": "/h", "APPDATA": "/a"}, "/a/autovoice/voices"),
        ("linux", {"HOME": "/h", "AUTOVOICE_VOICES_DIR": "/v"}, "/v"),
    ],
)
def test_user_voices_folder(platform: str, environ: dict[str, str], expected: str) -> None:
    assert user_voices_dir(environ, platform) == Path(expected)


# -- a wheel with only the onnxruntime extra, in a fresh venv -------------------------------------

COPIED = ("pyproject.toml", "README.md", ".gitignore", "autovoice", "plugins")
SKIPPED = ("__pycache__", "*.pyc", ".mypy_cache", "build", "dist", "*.egg-info")

MEASURE = """
    import json, resource, subprocess, sys, time
    start = time.perf_counter()
    code = subprocess.run(sys.argv[1:]).returncode
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"returncode": code, "seconds": seconds, "peak_rss_mib": peak}))
"""


def skipped(folder: str, names: list[str]) -> set[str]:
    """Build leftovers, and the voice in the checkout (the copy gets the tiny one)."""
    leftovers = shutil.ignore_patterns(*SKIPPED)(folder, names)
    return leftovers | ({"default"} if Path(folder).name == "voices" else set())


def build_wheel(voice: Path, work: Path) -> Path:
    """A wheel built offline from a copy of the project whose default voice is ``voice``."""
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling")
    source = work / "project"
    for name in COPIED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=skipped)
        elif (ROOT / name).is_file():
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    target = source / "autovoice" / "voices" / "default"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(voice, target)
    command = ["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    run_checked([sys.executable, *command, "-w", str(work / "wheels"), str(source)])
    return next((work / "wheels").glob("autovoice-*.whl"))


def run_checked(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{args[:6]} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def wheel_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def closure(
    requirements: list[str], extras: set[str]
) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions that ``requirements`` (with ``extras``) pull in, transitively."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [(text, extras) for text in requirements]
    while pending:
        text, active = pending.pop()
        requirement = Requirement(text)
        marker = requirement.marker
        if marker and not any(marker.evaluate({"extra": e}) for e in active or {""}):
            continue
        key = canonicalize_name(requirement.name)
        if key in found:
            continue
        try:
            found[key] = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"{requirement.name} is not installed here, so the venv cannot have it")
        pending += [(r, set(requirement.extras)) for r in found[key].requires or ()]
    return found


def link_distributions(dists: dict[str, importlib.metadata.Distribution], site: Path) -> None:
    """Links in ``site`` to every top-level file and folder each distribution installed."""
    site.mkdir(parents=True)
    for name, dist in dists.items():
        if dist.files is None:
            pytest.skip(f"{name} has no RECORD of its files")
        tops = {
            f.parts[0] for f in dist.files if f.parts and f.parts[0] not in ("..", "__pycache__")
        }
        for top in tops:
            target = Path(str(dist.locate_file(top)))
            if target.exists() and not (site / top).exists():
                (site / top).symlink_to(target)


@pytest.fixture(scope="module")
def fresh(tiny_voice: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A venv with the wheel installed as ``pip install 'autovoice[onnxruntime]'`` would."""
    work = tmp_path_factory.mktemp("fresh")
    wheel = build_wheel(tiny_voice, work)
    dists = closure(wheel_requirements(wheel), {"onnxruntime"})
    assert "torch" not in dists and "onnxruntime" in dists
    link_distributions(dists, work / "site")
    venv = work / "venv"
    run_checked([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = run_checked(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    )
    (Path(purelib.stdout.strip()) / "zz_dependencies.pth").write_text(f"{work / 'site'}\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AUTOVOICE_", "PYTHON", "PIP_", "VIRTUAL_ENV"))
    }
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONNOUSERSITE": "1"}
    env |= {
        "HOME": str(work / "home"),
        "XDG_CACHE_HOME": str(work / "cache"),
        "XDG_DATA_HOME": str(work / "data"),
    }
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index"]
    run_checked([*pip, "--no-build-isolation", f"{wheel}[onnxruntime]"], env=env)
    rate = json.loads((tiny_voice / "manifest.json").read_text())["audio"]["sample_rate"]
    (work / "home").mkdir(exist_ok=True)
    return {
        "home": work / "home",
        "venv": venv,
        "python": python,
        "env": env,
        "wheel": wheel,
        "sample_rate": rate,
    }


@pytest.mark.slow
def test_the_wheel_carries_the_voice(fresh: dict[str, Any]) -> None:
    with zipfile.ZipFile(fresh["wheel"]) as archive:
        names = set(archive.namelist())
    for name in (*VOICE_FILES, "acoustic.safetensors", "vocoder.safetensors"):
        assert f"autovoice/voices/default/{name}" in names


def in_venv(fresh: dict[str, Any], *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**fresh["env"], **kwargs.pop("env", {})}
    kwargs.setdefault("cwd", fresh["home"])  # not the project folder, whose autovoice would win
    return run_checked([str(fresh["venv"] / "bin" / args[0]), *args[1:]], env=env, **kwargs)


@pytest.mark.slow
def test_fresh_install_has_no_torch_and_lists_the_shipped_voice(fresh: dict[str, Any]) -> None:
    probe = "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('onnxruntime'))"
    torch_spec, ort_spec = in_venv(fresh, "python", "-c", probe).stdout.split(" ", 1)
    assert torch_spec == "None" and ort_spec.startswith("ModuleSpec")
    listing = "import json, autovoice.commands.voices as v; print(json.dumps(v.list_voices()))"
    (voice,) = json.loads(in_venv(fresh, "python", "-c", listing).stdout)["voices"]
    assert voice["source"] == "shipped"
    assert Path(voice["path"]).is_relative_to(fresh["venv"])
    assert voice["path"].endswith(os.path.join("autovoice", "voices", "default"))
    assert voice["stages"]["acoustic"]["backends"] == ["onnxruntime"]


@pytest.mark.slow
def test_fresh_install_speaks_without_flags_and_without_torch(
    fresh: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    speak = ("autovoice", "synthesize", "Hello there.", "-o")
    traced = in_venv(
        fresh, *speak, "traced.wav", env={"PYTHONPROFILEIMPORTTIME": "1"}, cwd=tmp_path
    )
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in traced.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"onnxruntime", "autovoice.inference.engine"} <= imported
    assert [m for m in imported if m.split(".")[0] in ("torch", "tensorrt")] == []

    command = [str(fresh["venv"] / "bin" / speak[0]), *speak[1:], "out.wav"]
    wrapper = [sys.executable, "-c", textwrap.dedent(MEASURE), *command]
    measured = run_checked(wrapper, env=fresh["env"], cwd=tmp_path)
    numbers = json.loads(measured.stdout.strip().splitlines()[-1])
    assert numbers["returncode"] == 0, measured.stderr
    wave, rate = read(tmp_path / "out.wav")
    assert rate == fresh["sample_rate"]
    assert 0.3 < wave.size / rate < 15.0, "not the length of a short phrase"
    assert np.abs(wave).max() > 1e-3
    with capsys.disabled():
        print(
            f"\n[fresh venv, onnxruntime extra only] autovoice synthesize 'Hello there.': "
            f"{numbers['seconds']:.2f} s wall, peak RSS {numbers['peak_rss_mib']:.0f} MiB, "
            f"{wave.size / rate:.2f} s of audio"
        )
