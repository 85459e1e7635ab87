"""Voice bundles are untrusted input: links that leave a bundle, a manifest that lies about its
graphs or settings, fields of the wrong type, bad output paths, and resource requests beyond the
machine are each refused with an error naming the file, field or argument, never a traceback
and never accepted in silence.

Every bundle here is the shipped default voice, its manifest copied and its graphs hard-linked
(or copied) into a temporary folder, then changed.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autovoice.bundle import MANIFEST, BundleError, VoiceBundle, default_voice_path
from autovoice.cli import main
from autovoice.errors import AutovoiceError
from autovoice.inference import VoiceInferenceEngine

pytest.importorskip("onnxruntime")

SHIPPED = default_voice_path()
if SHIPPED is None:  # pragma: no cover - a checkout without the voice
    pytest.skip("no shipped default voice in this checkout", allow_module_level=True)
ORIGINAL: dict[str, Any] = json.loads((SHIPPED / MANIFEST).read_text(encoding="utf-8"))
ORT = {"backend": "onnxruntime"}

Edit = Callable[[dict[str, Any]], object]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOVOICE_VOICE", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def make_voice(where: Path, edit: Edit | None = None) -> Path:
    """A copy of the shipped voice at ``where``, its manifest changed by ``edit``."""
    where.mkdir(parents=True)
    for path in SHIPPED.iterdir():  # type: ignore[union-attr]
        if path.name != MANIFEST:
            try:
                os.link(path, where / path.name)
            except OSError:
                shutil.copy2(path, where / path.name)
    manifest = copy.deepcopy(ORIGINAL)
    if edit is not None:
        edit(manifest)
    write_manifest(where, manifest)
    return where


def write_manifest(where: Path, manifest: Any) -> None:
    (where / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``autovoice ARGS`` in this process: the exit code and standard error. Anything but an
    :class:`AutovoiceError` escapes as the traceback it would print."""
    code = main(list(args))
    return code, capsys.readouterr().err


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The error message of a command that must fail cleanly."""
    code, err = cli(capsys, *args)
    assert code != 0 and "autovoice: error:" in err and "Traceback" not in err, err
    return err


def speak(voice: Path, **kwargs: Any) -> np.ndarray:
    engine = VoiceInferenceEngine(voice, **{**ORT, **kwargs})
    return engine.synthesize_speech("Hello.")


# -- 7: links ----------------------------------------------------------------------------------


def outside_copy(tmp_path: Path, name: str) -> Path:
    """A file outside the bundle with exactly the content the manifest lists for ``name``."""
    target = tmp_path / "elsewhere" / name
    target.parent.mkdir(exist_ok=True)
    shutil.copy2(SHIPPED / name, target)  # type: ignore[operator]
    return target


def test_a_link_leaving_the_bundle_is_refused_though_its_checksum_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    voice = make_voice(tmp_path / "voice")
    (voice / "vocoder.onnx").unlink()
    (voice / "vocoder.onnx").symlink_to(outside_copy(tmp_path, "vocoder.onnx"))
    with pytest.raises(BundleError, match=r"vocoder\.onnx.*link.*leaves the bundle"):
        VoiceBundle.open(voice)
    with pytest.raises(BundleError, match="leaves the bundle"):
        VoiceBundle.open(voice, verify=False)
    with pytest.raises(AutovoiceError, match="leaves the bundle"):
        VoiceInferenceEngine(voice, **ORT)
    assert "leaves the bundle" in refused(capsys, "info", str(voice))
    assert "leaves the bundle" in refused(capsys, "info", str(voice), "--no-verify")


def test_a_link_to_an_outside_file_does_not_tell_its_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"x" * 4321)
    voice = make_voice(tmp_path / "voice")
    (voice / "acoustic.safetensors").unlink()
    (voice / "acoustic.safetensors").symlink_to(secret)
    err = refused(capsys, "info", str(voice))
    assert "acoustic.safetensors" in err and "4321" not in err and str(secret) not in err


def test_a_linked_folder_leaving_the_bundle_is_refused(tmp_path: Path) -> None:
    outside_copy(tmp_path, "acoustic.onnx")

    def moved(manifest: dict[str, Any]) -> None:
        manifest["files"]["sub/acoustic.onnx"] = manifest["files"].pop("acoustic.onnx")
        manifest["acoustic"]["onnx"] = "sub/acoustic.onnx"

    voice = make_voice(tmp_path / "voice", moved)
    (voice / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(BundleError, match=r"sub/acoustic\.onnx.*leaves the bundle"):
        VoiceBundle.open(voice)


def test_a_manifest_that_is_a_link_out_of_the_bundle_is_refused(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice")
    (voice / MANIFEST).rename(tmp_path / "manifest.json")
    (voice / MANIFEST).symlink_to(tmp_path / "manifest.json")
    with pytest.raises(BundleError, match=r"manifest\.json.*leaves the bundle"):
        VoiceBundle.open(voice)


def test_links_inside_the_bundle_and_a_linked_bundle_folder_are_read(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice")
    (voice / "data").mkdir()
    (voice / "vocoder.safetensors").rename(voice / "data" / "vocoder.safetensors")
    (voice / "vocoder.safetensors").symlink_to(Path("data") / "vocoder.safetensors")
    (tmp_path / "alias").symlink_to(voice, target_is_directory=True)
    assert VoiceBundle.open(tmp_path / "alias").stage("vocoder").weights is not None


def test_a_file_that_is_not_a_regular_file_is_named(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice")
    (voice / "vocoder.safetensors").unlink()
    (voice / "vocoder.safetensors").mkdir()
    with pytest.raises(BundleError, match=r"vocoder\.safetensors: not a regular file"):
        VoiceBundle.open(voice)
