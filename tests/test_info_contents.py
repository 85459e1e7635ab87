"""``autovoice info`` looks past checksums: a graph or weights file replaced by garbage, with
the manifest rewritten to its checksum, is reported damaged, naming the file."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from autovoice.bundle import default_voice_path
from autovoice.cli import main


def forged(tmp_path: Path, name: str, data: bytes) -> Path:
    """A copy of the shipped voice with ``name`` replaced by ``data`` and the manifest
    listing ``data``'s size and checksum."""
    root = tmp_path / "voice"
    shutil.copytree(default_voice_path(), root)
    (root / name).write_bytes(data)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_the_shipped_voice_is_intact(capsys):
    assert main(["info", str(default_voice_path())]) == 0
    assert "integrity   ok" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("vocoder.onnx", bytes(range(256)) * 64, "not a graph ONNX Runtime can open"),
        ("acoustic.safetensors", b"\xff" * 4096, "header length does not fit"),
        ("vocoder.safetensors", (20).to_bytes(8, "little") + b'{"w": {"data_offsets"', "not JSON"),
    ],
)
def test_garbage_with_a_forged_checksum_is_damaged(tmp_path, capsys, name, data, says):
    root = forged(tmp_path, name, data)
    assert main(["info", str(root)]) == 1
    out = capsys.readouterr().out
    assert "DAMAGED" in out and name in out and says in out


def test_weights_whose_tensors_lie_outside_the_file(tmp_path, capsys):
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    data = len(header).to_bytes(8, "little") + header + b"\0" * 8  # 8 of the 16 bytes
    root = forged(tmp_path, "vocoder.safetensors", data)
    assert main(["info", str(root)]) == 1
    assert "tensor 'w' lies outside the file" in capsys.readouterr().out
