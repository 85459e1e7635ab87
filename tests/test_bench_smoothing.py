"""The over-smoothing suite: a voice measured against itself as the teacher scores no
distance at all, every named candidate gets a row, and the examples are written."""

from __future__ import annotations

import math

import pytest

from autovoice.bundle import default_voice_path
from benchmarks import bench_smoothing


@pytest.fixture
def against_itself(monkeypatch, tmp_path):
    voice = default_voice_path()
    monkeypatch.setattr(bench_smoothing, "QUICK_SENTENCES", 2)
    monkeypatch.setattr(
        bench_smoothing, "teacher_voice", lambda threads: bench_smoothing.autovoice_voice(
            "teacher", voice, threads)
    )  # fmt: skip
    monkeypatch.setenv("AUTOVOICE_BENCH_VOICE", str(voice))
    monkeypatch.setenv("AUTOVOICE_BENCH_THREADS", "1")
    monkeypatch.setenv(bench_smoothing.CANDIDATES_ENV, f"again={voice}")
    monkeypatch.setenv(bench_smoothing.EXAMPLES_ENV, str(tmp_path / "examples"))
    monkeypatch.delenv(bench_smoothing.BASELINE_ENV, raising=False)
    return tmp_path / "examples"


def test_a_voice_against_itself_is_at_distance_zero(against_itself):
    result, table = bench_smoothing.run(quick=True)
    forced = [f"{label}{bench_smoothing.PROSODY}" for label in ("autovoice", "again")]
    assert set(result["systems"]) == {bench_smoothing.FLOOR, "autovoice", "again", *forced}
    floor = result["systems"][bench_smoothing.FLOOR]  # its own audio through its vocoder: lossy
    assert 0.1 < floor["mcd_db"] < 1.5 and math.isnan(floor["acoustic_rtf"])
    row = result["systems"]["again"]
    assert row["mcd_db"] == pytest.approx(0.0, abs=1e-9)
    assert row["gv_ratio_above_1khz"] == pytest.approx(1.0) and row[
        "gv_ratio_all"
    ] == pytest.approx(1.0)
    assert row["modulation_distance_db"] == pytest.approx(0.0, abs=1e-9)
    assert row["f0_rmse_cents"] == pytest.approx(0.0, abs=1e-9)
    assert row["f0_correlation"] == pytest.approx(1.0) and row["voicing_error"] == 0.0
    assert row["length_ratio"] == 1.0
    assert 0.0 < row["acoustic_rtf"] < 1.0 and not math.isnan(row["acoustic_rtf"])
    assert {"vowel", "stop", "pause"} <= set(row["duration_mae_ms"])  # the voice times phonemes
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in row["duration_mae_ms"].values())
    assert "| again | 0.00 | 1.000 | 1.000 | 0.00 | 0 | 1.000 | 0.000 |" in table
    for label in forced:  # the model over the teacher's recordings: their frames, their pitch
        row = result["systems"][label]
        assert 0.1 < row["mcd_db"] < 3.0 and row["length_ratio"] == pytest.approx(1.0, abs=0.02)
        assert row["f0_correlation"] > 0.95 and row["f0_rmse_cents"] < 60
    files = sorted(p.name for p in against_itself.iterdir())
    assert {"teacher-0.wav", "hibari-0.wav", "again-1.wav"} - set(files) == {"teacher-0.wav"}
    assert len([f for f in files if f.endswith(".wav")]) == 3 * 2  # 2 sentences × 3 systems


def test_a_degraded_voice_scores_worse(against_itself, monkeypatch):
    """An echo smears every transition over the next 60 ms: the variance and the modulation
    spectrum see the speech smoothed."""
    import numpy as np

    real = bench_smoothing.autovoice_voice

    def blurred(label, path, threads):
        voice = real(label, path, threads)
        if label != "again":
            return voice

        def speak(text):
            wave, phonemes, seconds = voice.speak(text)
            delay = int(0.06 * voice.sample_rate)
            echo = np.concatenate([np.zeros(delay, np.float32), wave[:-delay]])
            return 0.6 * wave + 0.6 * echo, phonemes, seconds

        return bench_smoothing.Voice(label=label, sample_rate=voice.sample_rate, speak=speak)

    monkeypatch.setattr(bench_smoothing, "autovoice_voice", blurred)
    result, _ = bench_smoothing.run(quick=True)
    row = result["systems"]["again"]
    assert row["mcd_db"] > 0.5
    assert row["gv_ratio_above_1khz"] < 0.95 and row["gv_ratio_all"] < 0.95
    assert row["modulation_distance_db"] > 0.5
