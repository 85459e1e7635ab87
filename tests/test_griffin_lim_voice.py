"""Griffin-Lim voices end to end: ``autovoice export --vocoder griffin_lim`` from an acoustic
checkpoint, synthesis through onnxruntime (torch-free) and pytorch, and ``--vocoder griffin_lim``
on a HiFi-GAN voice."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import numpy as np
import pytest

from autovoice.bundle import VoiceBundle
from autovoice.errors import AutovoiceError
from autovoice.export import ExportError
from autovoice.inference import InferenceError, VoiceInferenceEngine
from autovoice.plugins import Registry

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

TEXT = "Hello there. A second sentence!"


@attrs.frozen
class Voices:
    runs: Path
    hifigan: Path
    griffin_lim: Path


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def registry() -> Registry:
    """Every installed plugin, and the pytorch backend when no entry point registers it."""
    import autovoice_torch

    eps = importlib.metadata.entry_points(group="autovoice")
    extra = [] if any(ep.value == "autovoice_torch" for ep in eps) else [autovoice_torch]
    return Registry.discover(plugins=extra)


def export_command(*argv: str) -> int:
    from autovoice.commands import export

    root = argparse.ArgumentParser(prog="autovoice")
    export.register(root.add_subparsers())
    args = root.parse_args(["export", *argv])
    return int(args.func(args))


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Voices:
    """A tiny HiFi-GAN voice, and a Griffin-Lim voice exported from the same acoustic run."""
    from benchmarks._tiny_voice import make_tiny_voice

    root = tmp_path_factory.mktemp("gl")
    hifigan = make_tiny_voice(root, acoustic_steps=2, vocoder_steps=1)
    out = root / "gl-voice"
    code = export_command(
        str(root / "runs" / "acoustic"), "--vocoder", "griffin_lim", "--iterations", "8",
        "--out", str(out), "--no-validate",
    )  # fmt: skip
    assert code == 0
    return Voices(runs=root / "runs", hifigan=hifigan, griffin_lim=out)


# -- export --------------------------------------------------------------------------------------


def test_export_writes_the_acoustic_stage_and_a_griffin_lim_entry(voices):
    manifest = json.loads((voices.griffin_lim / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    assert manifest["vocoder"] == {
        "plugin": "griffin_lim",
        "options": {},
        "head": "mel_griffin_lim",
        "head_options": {"iterations": 8, "momentum": 0.99, "seed": 0, "init": "random"},
    }
    assert set(manifest["files"]) == {"acoustic.onnx", "acoustic.safetensors"}
    assert {p.name for p in voices.griffin_lim.iterdir()} == {
        "manifest.json",
        "acoustic.onnx",
        "acoustic.safetensors",
    }
    bundle = VoiceBundle.open(voices.griffin_lim, verify=True)
    hifigan = VoiceBundle.open(voices.hifigan)
    assert bundle.manifest["acoustic"]["plugin"] == hifigan.manifest["acoustic"]["plugin"]
    assert bundle.stage("vocoder").onnx is None


def test_export_refuses_unclear_vocoder_choices(voices, tmp_path):
    acoustic = str(voices.runs / "acoustic")
    vocoder = str(voices.runs / "vocoder")
    with pytest.raises(AutovoiceError, match="not both"):
        export_command(acoustic, vocoder, "--vocoder", "griffin_lim", "--out", str(tmp_path / "a"))
    with pytest.raises(AutovoiceError, match="no vocoder: give VOCODER_CKPT"):
        export_command(acoustic, "--out", str(tmp_path / "b"))
    with pytest.raises(AutovoiceError, match="--iterations applies to --vocoder griffin_lim"):
        export_command(acoustic, vocoder, "--iterations", "4", "--out", str(tmp_path / "c"))
    with pytest.raises(ExportError, match=r"\$\.vocoder\.head_options\.iterations: must be >= 0"):
        export_command(
            acoustic, "--vocoder", "griffin_lim", "--iterations", "-1", "--out", str(tmp_path / "d")
        )
    assert not any(tmp_path.iterdir())  # nothing half-written


# -- synthesis -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["onnxruntime", "pytorch"])
def test_a_griffin_lim_voice_speaks_on_either_acoustic_backend(voices, backend):
    engine = VoiceInferenceEngine(
        voices.griffin_lim, backend=backend, registry=registry(), threads=1
    )
    assert engine.backends == {"acoustic": backend, "vocoder": "griffin_lim"}
    stage = engine.describe()["stages"]["vocoder"]
    assert (stage["backend"], stage["artifact"], stage["device"]) == ("griffin_lim", "numpy", "cpu")
    waves = engine.synthesize_batch(["Hello there.", "A longer second sentence here."])
    assert all(w.dtype == np.float32 and w.size % engine.hop_length == 0 for w in waves)
    assert all(np.isfinite(w).all() and np.abs(w).max() > 0 for w in waves)
    assert engine.last_timing is not None and engine.last_timing.vocoder_seconds > 0


def test_griffin_lim_replaces_a_bundles_vocoder_on_request(voices):
    reg = registry()
    own = VoiceInferenceEngine(voices.hifigan, backend="onnxruntime", registry=reg, threads=1)
    gl = VoiceInferenceEngine(
        voices.hifigan, backend="onnxruntime", registry=reg, threads=1, vocoder="griffin_lim"
    )
    assert own.backends["vocoder"] == "onnxruntime" and gl.backends["vocoder"] == "griffin_lim"
    head = gl.stages["vocoder"].session.head
    assert head.head.name == "mel_griffin_lim" and head.options.iterations == 32  # the defaults
    assert own.bundle.stage("vocoder").head == "waveform"
    wave_own, wave_gl = own.synthesize_speech(TEXT), gl.synthesize_speech(TEXT)
    assert wave_own.shape == wave_gl.shape  # same acoustic stage, same frames
    assert not np.allclose(wave_own, wave_gl, atol=1e-3)
    with pytest.raises(InferenceError, match="vocoder must be one of"):
        VoiceInferenceEngine(voices.hifigan, registry=reg, vocoder="hifigan")


def test_the_cli_takes_vocoder_griffin_lim(voices, tmp_path, capsys, monkeypatch):
    import autovoice.cli
    from autovoice.audio.io import read_audio

    name = "autovoice.commands.synthesize"
    if name not in autovoice.cli.COMMAND_MODULES:
        monkeypatch.setattr(
            autovoice.cli, "COMMAND_MODULES", (*autovoice.cli.COMMAND_MODULES, name)
        )
    out = tmp_path / "out.wav"
    argv = ["synthesize", TEXT, "-o", str(out), "--voice", str(voices.hifigan), "--verbose"]
    assert autovoice.cli.main([*argv, "--vocoder", "griffin_lim"]) == 0
    assert "vocoder: griffin_lim (numpy on cpu)" in capsys.readouterr().out
    wave, rate = read_audio(out)
    assert rate == 22050 and wave.size > 0
    with pytest.raises(SystemExit):
        autovoice.cli.main([*argv, "--vocoder", "hifigan"])
    assert "choose from 'bundle', 'griffin_lim'" in capsys.readouterr().err


def test_synthesis_of_a_griffin_lim_voice_through_onnxruntime_imports_no_torch(voices):
    code = textwrap.dedent(
        """
        import json, sys
        from autovoice.inference import VoiceInferenceEngine
        engine = VoiceInferenceEngine(sys.argv[1], backend="onnxruntime")
        wave = engine.synthesize_speech("Hello there. A second sentence!", batch_size=2)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorrt", "cuda"))
        print(json.dumps({"heavy": heavy, "samples": len(wave), "backends": engine.backends}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(voices.griffin_lim)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and result["samples"] > 0
    assert result["backends"] == {"acoustic": "onnxruntime", "vocoder": "griffin_lim"}
