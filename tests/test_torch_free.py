"""Synthesis through ONNX Runtime never imports torch, tensorrt or cuda: checked in a clean
interpreter (``python -I``), with a voice bundle trained and exported by this test."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HEAVY = ("torch", "tensorrt", "cuda")


def run_clean(code: str, *args: str, watch: tuple[str, ...] = HEAVY) -> dict:
    """Run ``code`` in an isolated interpreter, then report which of the ``watch`` modules (or
    their submodules) it imported and the value it left in ``extra``."""
    report = (
        f"\nloaded = sorted(m for m in sys.modules if m.split('.')[0] in {watch!r})"
        "\nprint(json.dumps({'loaded': loaded, 'extra': extra}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", textwrap.dedent(code) + report, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from benchmarks._tiny_voice import make_tiny_voice

    return make_tiny_voice(tmp_path_factory.mktemp("voice"), acoustic_steps=1, vocoder_steps=1)


def test_importing_the_inference_package_imports_no_heavy_library():
    result = run_clean(
        """
        import json, sys
        import autovoice.inference
        extra = None
        """,
        watch=(*HEAVY, "onnxruntime"),
    )
    assert result == {"loaded": [], "extra": None}


@pytest.mark.parametrize("backend", ["onnxruntime", "auto"])
def test_synthesis_through_onnxruntime_leaves_torch_out(voice, backend):
    result = run_clean(
        """
        import json, sys
        from autovoice.inference import VoiceInferenceEngine
        engine = VoiceInferenceEngine(sys.argv[1], backend=sys.argv[2])
        wave = engine.synthesize_speech("Hello there. A second sentence!", batch_size=2)
        extra = {"samples": len(wave), "backends": engine.backends,
                 "onnxruntime": "onnxruntime" in sys.modules}
        """,
        str(voice),
        backend,
    )
    assert result["loaded"] == []
    assert result["extra"]["samples"] > 0 and result["extra"]["onnxruntime"]
    assert result["extra"]["backends"] == {"acoustic": "onnxruntime", "vocoder": "onnxruntime"}
