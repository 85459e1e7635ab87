"""Every command of docs/default-voice.md runs, in the order the page gives them, on a demo
corpus instead of the distilled one and for a few steps instead of thousands: the continuation
from the weights kept under ``training/`` included, and the export that ships the voice (into a
copy of the default voice, never the shipped one)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autovoice.cli import main
from tests._doc_commands import demo_corpus, run_command, sh_commands, user_folder

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "default-voice.md"


def _run(args: list[str], tmp_path: Path) -> None:
    if args[:2] == ["corpus", "distill"]:
        demo_corpus(tmp_path / args[2])
        return
    run_command(args)


@pytest.mark.slow
def test_the_commands_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user_folder(tmp_path, monkeypatch)
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    (tmp_path / "training").symlink_to(ROOT / "training")  # read, never written
    shipped = ROOT / "autovoice" / "voices" / "default"
    shutil.copytree(shipped, tmp_path / "autovoice" / "voices" / "default")
    found = sh_commands(PAGE)
    assert found[0][:2] == ["pip", "install"]
    kept = [c for c in found if "--init" in c and c[c.index("--init") + 1].startswith("training/")]
    assert kept, "the page continues from the weights kept under training/"
    for command in found:
        if command[0] == "autovoice":
            _run(command[1:], tmp_path)
    printed = capsys.readouterr().out
    assert "init from training/istft-small/vocoder/step-000004000: loaded 62 tensors" in printed
    exported = tmp_path / "autovoice" / "voices" / "default" / "manifest.json"
    assert exported.stat().st_mtime > (shipped / "manifest.json").stat().st_mtime
    assert os.path.samefile(tmp_path / "training", ROOT / "training")


@pytest.mark.slow
def test_the_shipped_voice_exports_again_from_its_own_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the page says: the shipped voice's acoustic model becomes a checkpoint again
    (``write_acoustic_checkpoint``), and the export takes it with the shipped voice's vocoder
    stage, kept byte for byte; the voice it makes speaks as the shipped one does."""
    import numpy as np

    from autovoice.commands.plugins import registry
    from autovoice.config import load_config
    from autovoice.inference import VoiceInferenceEngine
    from autovoice.training.finetune import write_acoustic_checkpoint

    user_folder(tmp_path, monkeypatch)
    config = load_config(ROOT / "configs" / "default-voice-acoustic.toml")
    shipped = ROOT / "autovoice" / "voices" / "default"
    acoustic = write_acoustic_checkpoint(
        shipped, config, tmp_path / "acoustic", registry=registry(), step=1
    )
    assert main(["export", str(acoustic), str(shipped), "--out", str(tmp_path / "voice")]) == 0
    for name in ("vocoder.onnx", "vocoder.safetensors"):
        assert (tmp_path / "voice" / name).read_bytes() == (shipped / name).read_bytes()
    text = "The shipped vocoder speaks."
    again = VoiceInferenceEngine(tmp_path / "voice", backend="onnxruntime")
    assert again.bundle.stage("vocoder").plugin == "istft"
    wave = again.synthesize_speech(text)
    original = VoiceInferenceEngine(shipped, backend="onnxruntime").synthesize_speech(text)
    assert wave.size > again.sample_rate // 2 and float(abs(wave).max()) > 0.01
    np.testing.assert_allclose(wave, original, rtol=0, atol=1e-4)
    # the head options set at export: the graph and weights kept, the head run otherwise
    sets = ["--set", "vocoder.head_options.projections=4"]
    sets += ["--set", "vocoder.head_options.projection_decimation=1"]
    out = tmp_path / "full-band"
    assert main(["export", str(acoustic), str(shipped), "--out", str(out), *sets]) == 0
    for name in ("vocoder.onnx", "vocoder.safetensors"):
        assert (out / name).read_bytes() == (shipped / name).read_bytes()
    stage = VoiceInferenceEngine(out, backend="onnxruntime").bundle.manifest["vocoder"]
    assert stage["head_options"]["projections"] == stage["options"]["projections"] == 4
    assert stage["options"]["projection_decimation"] == 1
    other = VoiceInferenceEngine(out, backend="onnxruntime").synthesize_speech(text)
    assert other.shape == original.shape and np.abs(other - original).max() > 1e-3
