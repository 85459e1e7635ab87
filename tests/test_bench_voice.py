"""The voice suite measures a baseline voice beside the voice of the run when one is named,
and reports the ratio of their real-time factors."""

from __future__ import annotations

from benchmarks import bench_voice


def test_a_named_baseline_is_measured_beside_the_voice(monkeypatch, tmp_path):
    made = []
    monkeypatch.setattr(
        bench_voice, "_autovoice", lambda voice, threads, name="autovoice": made.append(
            (name, voice.path)) or name,
    )  # fmt: skip
    monkeypatch.setattr(bench_voice, "installed", lambda modules: not modules)
    monkeypatch.delenv(bench_voice.BASELINE_ENV, raising=False)
    assert set(bench_voice.load_systems(object(), 1)) == {"autovoice", "hibari", "piper"}
    monkeypatch.setenv(bench_voice.BASELINE_ENV, str(tmp_path))
    systems = bench_voice.load_systems(object(), 1)
    assert systems["baseline"] == "baseline" and ("baseline", tmp_path) in made


def test_the_table_gives_the_ratios_of_real_time_factors():
    rows = {"autovoice": {"rtf": 0.01}, "baseline": {"rtf": 0.04}, "hibari": {"rtf": 0.02}}
    assert bench_voice._ratio(rows, "autovoice", "baseline", "rtf") == 0.25
    result = {
        "systems": {},
        "voice": {"path": "v", "note": "n", "kind": "given"},
        "sentences": 1,
        "recognizer": "r",
        "threads": 1,
        "rtf_ratio_to_teacher": 0.5,
        "rtf_ratio_to_baseline": 0.25,
    }
    assert "over hibari's 0.50, over the baseline's 0.25" in bench_voice.table(result)
