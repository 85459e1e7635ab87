"""The autovoice voice the suites measure, and a record of which one it was.

In order: the bundle named by ``$AUTOVOICE_BENCH_VOICE`` (``benchmarks.run --voice``), the
default voice when one is installed, else a tiny voice trained for a few steps (built once per
run under ``$AUTOVOICE_BENCH_WORK``, else in a temporary folder). Speed does not depend on how
well a voice is trained, but its size does: the record names the voice and its ONNX sizes.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import attrs

__all__ = ["VOICE_ENV", "WORK_ENV", "BenchVoice", "bench_voice"]

VOICE_ENV = "AUTOVOICE_BENCH_VOICE"
WORK_ENV = "AUTOVOICE_BENCH_WORK"
NOTE_TINY = (
    "no default voice installed: a stand-in with the default voice's architecture (acoustic "
    "preset tiny on phonemes, Griffin-Lim vocoder) trained for a few steps on the spot; its "
    "speed is the default voice's, but its untrained durations make utterances shorter or longer"
)


@attrs.frozen(kw_only=True)
class BenchVoice:
    """A voice bundle and how it was chosen: ``given``, ``default`` or ``tiny``."""

    path: Path
    kind: str
    note: str

    def record(self) -> dict[str, Any]:
        """Path, kind, note, each stage's plugin and options, and the ONNX sizes in MB."""
        manifest = json.loads((self.path / "manifest.json").read_text())
        stages = {
            name: {"plugin": manifest[name].get("plugin"), "options": manifest[name].get("options")}
            for name in ("acoustic", "vocoder")
            if isinstance(manifest.get(name), dict)
        }
        sizes = {p.name: p.stat().st_size / 1e6 for p in sorted(self.path.glob("*.onnx"))}
        return {
            "path": str(self.path),
            "kind": self.kind,
            "note": self.note,
            "stages": stages,
            "onnx_mb": sizes,
            "total_onnx_mb": sum(sizes.values()),
        }


def _tiny(work: Path) -> BenchVoice:
    from benchmarks._tiny_voice import MEL_HEAD, make_tiny_voice

    voice = work / "tiny-voice" / "voice"
    if not (voice / "manifest.json").is_file():
        voice = make_tiny_voice(
            work / "tiny-voice", acoustic_steps=12, shipped_sizes=True, vocoder=MEL_HEAD
        )
    return BenchVoice(path=voice, kind="tiny", note=NOTE_TINY)


def bench_voice() -> BenchVoice:
    """The voice of this run (see the module docstring)."""
    from autovoice.bundle import default_voice_path

    given = os.environ.get(VOICE_ENV, "")
    if given:
        return BenchVoice(path=Path(given), kind="given", note=f"the voice bundle {given}")
    default = default_voice_path()
    if default is not None:
        return BenchVoice(path=Path(default), kind="default", note="the default voice")
    work = os.environ.get(WORK_ENV, "")
    return _tiny(Path(work) if work else Path(tempfile.mkdtemp(prefix="autovoice-bench-")))
