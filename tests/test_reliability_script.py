"""scripts/reliability.py: its verdicts, its loss accounting, and a reduced run end to end."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "reliability.py"


@pytest.fixture(scope="module")
def rel() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reliability", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _case(rel: ModuleType, expect: str = "refuse", names: str = "u3.wav") -> object:
    return rel.Case("corpus", "x", lambda folder: ([], None), expect=expect, names=names)


def test_verdicts(rel: ModuleType, tmp_path: Path) -> None:
    refuse, accept = _case(rel), _case(rel, "accept")
    named = "autovoice: error: manifest.jsonl:4 (u3.wav): silent audio\n"
    assert rel.classify(refuse, 1, "", named, tmp_path) == "clear error"
    assert rel.classify(refuse, 1, "", "autovoice: error: something\n", tmp_path) == (
        "unclear error"
    )
    assert rel.classify(refuse, 0, "done\n", "", tmp_path) == "silent acceptance"
    trace = "Traceback (most recent call last):\n  File ...\nKeyError: 'x'\n"
    assert rel.classify(refuse, 1, "", trace, tmp_path) == "traceback"
    assert rel.classify(refuse, None, "", "", tmp_path) == "hang"
    assert rel.classify(accept, 0, "", "", tmp_path) == "accepted"
    assert rel.classify(accept, 1, "", named, tmp_path) == "wrongly refused"
    warn = _case(rel, "warn", "vocoder.onnx")
    fell_back = "autovoice: warning: vocoder.onnx: cannot load; falling back\n"
    assert rel.classify(warn, 0, "", fell_back, tmp_path) == "warned fallback"
    assert rel.classify(warn, 0, "", "", tmp_path) == "silent acceptance"
    (tmp_path / "PWNED").touch()  # a crafted pickle ran
    assert rel.classify(refuse, 1, "", named, tmp_path) == "silent acceptance"


def test_retention_is_no_loss_and_a_vanished_checkpoint_is(rel: ModuleType) -> None:
    before = {"step-02": True, "step-04": True, "step-06": False}
    # two newer readable ones: retention (keep 3) had no cause to delete step-02
    assert rel._lost(before, {"step-04": True, "step-06": False, "step-08": True}, 3) == ["step-02"]
    assert rel._lost(before, {"step-04": True, "step-06": True, "step-08": True}, 3) == []
    assert rel._lost(before, {"step-02": True, "step-04": False}, 3) == ["step-04"]


@pytest.mark.slow
def test_a_reduced_trial(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    kills, inputs = result["kills"], result["inputs"]
    assert kills["kill_points_tried"] == 3 and kills["kill_points_not_reached"] == 0
    assert kills["checkpoints_verified_before_kills"] > 0 and kills["checkpoints_lost"] == 0
    assert kills["resume_exact"] and kills["weights_tensors_compared"] > 0
    assert kills["logged_values_compared"] > 0 and kills["logged_values_different"] == 0
    verdicts = {f"{c['kind']}/{c['name']}": c["class"] for c in inputs["cases"]}
    assert set(verdicts) == rel_quick()
    assert verdicts["corpus/check-nan-samples"] == "clear error"
    assert verdicts["config/unknown-key"] == "clear error"
    assert verdicts["corpus/check-good"] == "accepted"
    assert verdicts["config/good"] == "accepted"
    assert inputs["tracebacks"] == sum(v == "traceback" for v in verdicts.values())
    assert done.returncode == (0 if inputs["tracebacks"] + inputs["silent_acceptances"] == 0 else 1)


def rel_quick() -> set[str]:
    spec = importlib.util.spec_from_file_location("reliability_quick", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.QUICK)
