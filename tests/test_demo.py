"""``autovoice demo``: a folder made afresh each run, user data never deleted, the whole path."""

from __future__ import annotations

from pathlib import Path

import pytest

from autovoice.demo import (
    MARKER,
    SCORED,
    Score,
    check_requirements,
    prepare_folder,
    run_demo,
    verdict,
)
from autovoice.errors import AutovoiceError


def test_a_folder_the_demo_did_not_make_is_refused_and_kept(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AutovoiceError, match="did not make"):
        prepare_folder(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_previous_demo_folder_is_replaced(tmp_path):
    folder = tmp_path / "demo-run"
    prepare_folder(folder)
    (folder / "old.wav").write_bytes(b"old")
    prepare_folder(folder)
    assert sorted(p.name for p in folder.iterdir()) == [MARKER]


def _score(overall: float) -> Score:
    return Score(who="x", heard="", wer=overall, overall=overall)


def test_the_verdict_says_plainly_when_the_voice_is_not_intelligible():
    assert "not yet intelligible (90% word error)" in verdict([_score(0.9), _score(0.7)])
    assert "teacher, espeak-ng, scores 70%" in verdict([_score(0.9), _score(0.7)])
    assert verdict([_score(0.2), _score(0.1)]).startswith("The new voice is recognisable: 20%")


def test_a_missing_training_side_is_named_before_any_work(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n: None if n == "onnx" else real(n))
    with pytest.raises(AutovoiceError, match=r"needs onnx: pip install 'autovoice\[train"):
        check_requirements()
    with pytest.raises(AutovoiceError, match="needs onnx"):
        run_demo(tmp_path / "demo-run")
    assert not (tmp_path / "demo-run").exists()


@pytest.mark.slow
def test_the_demo_runs_twice_in_one_folder(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("pocketsphinx")
    folder = tmp_path / "demo-run"
    lines: list[str] = []
    with monkeypatch.context() as patch:  # without the recognizer: no scores, and it says so
        patch.setattr("autovoice.recognizer.recognizer_available", lambda: False)
        lines.clear()
        unscored = run_demo(folder, steps=2, vocoder_steps=2, sentences=6, say=lines.append)
    assert unscored.scores == ()
    assert any("not scored" in line and "autovoice[eval]" in line for line in lines)
    lines.clear()
    result = run_demo(folder, steps=2, vocoder_steps=2, sentences=6, say=lines.append)
    assert [line[:5] for line in lines if line.startswith("[")] == [f"[{n}/7]" for n in range(1, 8)]
    for path in result.files:
        assert path.exists(), path
    assert (folder / "voice" / "manifest.json").is_file()
    checkpoints = sorted(p.name for p in (folder / "runs" / "acoustic" / "checkpoints").iterdir())
    assert "step-000000001" in checkpoints and "step-000000002" in checkpoints  # stop, resume
    new, teacher, shipped = result.scores
    assert new.who == "the new voice" and "espeak-ng" in teacher.who
    assert shipped.overall < 0.6  # the shipped voice is intelligible to the recognizer
    assert teacher.overall < 1.0  # the teacher's recordings are heard, if poorly
    assert len(SCORED) == 5 and isinstance(result.folder, Path)
