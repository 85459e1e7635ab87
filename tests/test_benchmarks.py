"""The benchmarks' pure helpers: percentiles, FLOP counting, ratios, tables and the docs page."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import _report
from benchmarks._common import markdown_table, percentile, summary, timed, write_results
from benchmarks._speakers import autovoice_systems
from benchmarks._worker import latency_row, timed_audio
from benchmarks.bench_coldstart import imports_torch, synthesize_args
from benchmarks.bench_coldstart import peer_ratios as cold_ratios
from benchmarks.bench_dynamic import MIXED_LENGTHS, text_of, workloads
from benchmarks.bench_inference import TEXT_128, peer_ratios, ratios
from benchmarks.bench_quantize import CALIBRATION, HELD_OUT, _Feeds, relative_error
from benchmarks.bench_quantize import table as quantize_table
from benchmarks.bench_vocoder import floor_row
from benchmarks.run import about

# -- percentiles -------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0, 1e3, allow_nan=False), min_size=1, max_size=40),
    st.floats(0, 100),
)
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(np.percentile(values, q), rel=1e-9, abs=1e-9)


def test_percentile_ends_and_errors() -> None:
    values = [3.0, 1.0, 2.0, 10.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile(values, 50) == 2.5
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summary_p50_is_the_median() -> None:
    stats = summary([0.4, 0.1, 0.3, 0.2, 5.0])
    assert stats["p50_s"] == stats["median_s"] == 0.3
    assert stats["p90_s"] > stats["p50_s"]
    assert stats["n"] == 5


# -- FLOP counting -----------------------------------------------------------------------------


def test_flops_of_a_small_conv_stack_match_a_hand_count() -> None:
    torch = pytest.importorskip("torch")
    from benchmarks._flops import count_flops

    stack = torch.nn.Sequential(
        torch.nn.Conv1d(2, 3, 3, padding=1),  # 10 outputs x 3 ch x (2 x 3) MACs + 30 bias
        torch.nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1),  # 10 in x 3 ch x (2 x 4) MACs
        torch.nn.Conv1d(2, 4, 3, padding=1, groups=2, bias=False),  # 20 x 4 ch x (1 x 3) MACs
    )
    conv = 2 * 10 * 3 * 2 * 3 + 3 * 10
    transposed = 2 * 10 * 3 * 2 * 4 + 2 * 20
    grouped = 2 * 20 * 4 * 1 * 3
    assert count_flops(stack, torch.zeros(1, 2, 10)) == conv + transposed + grouped
    assert count_flops(stack, torch.zeros(3, 2, 10)) == 3 * (conv + transposed + grouped)


def test_flops_of_a_linear_layer() -> None:
    torch = pytest.importorskip("torch")
    from benchmarks._flops import count_flops

    layer = torch.nn.Linear(8, 5)
    assert count_flops(layer, torch.zeros(2, 7, 8)) == 2 * 14 * 8 * 5 + 14 * 5


def test_vocoder_flops_grow_linearly_with_frames() -> None:
    torch = pytest.importorskip("torch")
    from autovoice_models.hifigan.generator import Generator
    from benchmarks._flops import count_flops

    generator = Generator(
        n_mels=8,
        upsample_rates=(4, 2),
        upsample_kernel_sizes=(8, 4),
        upsample_initial_channel=16,
        resblock=2,
        resblock_kernel_sizes=(3,),
        resblock_dilations=((1, 3),),
    ).folded_copy()
    short = count_flops(generator, torch.zeros(1, 8, 12))
    assert short > 0
    assert count_flops(generator, torch.zeros(1, 8, 24)) == 2 * short


def test_griffin_lim_flops_by_hand() -> None:
    from benchmarks._flops import fft_flops, griffin_lim_flops

    assert fft_flops(8) == 2.5 * 8 * 3
    bins = 5
    iteration = 2 * 60 + 3 * 8 + 12 * bins
    frame = 2 * 4 * bins + 2 * iteration + 60 + 16
    found = griffin_lim_flops(sample_rate=100, n_fft=8, hop_length=2, n_mels=4, iterations=2)
    assert found == pytest.approx(frame * 50)


def test_head_flops_count_what_each_head_does() -> None:
    from autovoice.heads import HEADS
    from benchmarks._flops import HEAD_WORK, fft_flops, griffin_lim_flops, head_flops

    shape = {"sample_rate": 100, "n_fft": 8, "hop_length": 2, "n_mels": 4}
    assert set(HEAD_WORK) | {"waveform"} == set(HEADS)
    assert head_flops("waveform", {}, **shape) == 0.0
    assert head_flops("istft", {}, **shape) == pytest.approx((fft_flops(8) + 16) * 50)
    projected = head_flops("istft", {"projections": 2}, **shape)
    assert projected == griffin_lim_flops(**{**shape, "n_mels": 0}, iterations=2)
    banded = head_flops("istft", {"projections": 2, "projection_decimation": 2}, **shape)
    iteration = 2 * fft_flops(4) + 3 * 4 + 12 * 3  # 4 points, 3 bins
    assert banded == pytest.approx((2 * iteration + fft_flops(8) + 16) * 50)
    options = {"iterations": 2}
    magnitude = head_flops("griffin_lim", options, **shape)
    assert magnitude == griffin_lim_flops(**{**shape, "n_mels": 0}, iterations=2)
    mel = head_flops("mel_griffin_lim", options, **shape)
    assert mel - magnitude == pytest.approx(2 * 4 * 5 * 50)  # the mel inverse, per frame


def test_a_vocoders_graph_is_counted_through_its_own_recipe() -> None:
    torch = pytest.importorskip("torch")
    from autovoice.config import AudioConfig
    from autovoice_models.hifigan.recipe import build_generator
    from autovoice_models.hifigan.spec import HifiGanOptions
    from benchmarks._flops import count_flops
    from benchmarks.bench_vocoder import SECONDS, graph_flops

    audio = AudioConfig()
    options = {"preset": "v3", "upsample_initial_channel": 32}
    generator = build_generator(HifiGanOptions(**options), audio).folded_copy()
    frames = round(SECONDS * audio.sample_rate / audio.hop_length)
    direct = count_flops(generator, torch.zeros(1, audio.n_mels, frames))
    per_second = direct / (frames * audio.hop_length / audio.sample_rate)
    assert graph_flops("hifigan", options, audio) == pytest.approx(per_second)


def test_floor_row() -> None:
    row = floor_row("v2", "onnxruntime", rtf=0.05, flops_per_s=2e9, peak=1e11)
    assert row["floor_rtf"] == pytest.approx(0.02)
    assert row["x_floor"] == pytest.approx(2.5)
    assert row["peak_fraction"] == pytest.approx(0.4)
    assert row["gflops_per_audio_s"] == pytest.approx(2.0)


# -- measurement helpers -----------------------------------------------------------------------


def test_timed_audio_stops_at_the_budget_but_not_before_the_minimum() -> None:
    calls = []

    def call() -> list[np.ndarray]:
        calls.append(1)
        return [np.zeros(100 + len(calls), np.float32), np.zeros(50, np.float32)]

    times, audio = timed_audio(call, 100, warmup=2, repeats=20, budget_s=0.0, min_repeats=5)
    assert len(times) == 5 and len(calls) == 7
    assert audio == pytest.approx((150 + 5) / 100)  # median of the timed calls only
    times, _ = timed_audio(call, 100, warmup=0, repeats=8, budget_s=1e9)
    assert len(times) == 8


def test_timed_without_a_budget_repeats_in_full() -> None:
    assert len(timed(lambda: None, warmup=0, repeats=4)) == 4
    assert len(timed(lambda: None, warmup=0, repeats=9, budget_s=0.0, min_repeats=3)) == 3


def test_a_child_reports_its_own_peak_memory_not_its_parents() -> None:
    import sys

    from benchmarks._proc import run_measured

    ballast = np.ones(75_000_000, np.float32)  # 300 MB resident in this process
    small = run_measured([sys.executable, "-S", "-c", "pass"]).check()
    grow = "import sys; b = bytearray(150_000_000); b[::4096] = b'x' * len(b[::4096])"
    large = run_measured([sys.executable, "-S", "-c", grow]).check()
    assert ballast.sum() > 0
    assert small.peak_rss_mb < 100 < 150 < large.peak_rss_mb < 250
    assert 0 < small.seconds < large.seconds + 60
    failed = run_measured([sys.executable, "-S", "-c", "import sys; sys.exit(3)"])
    assert failed.returncode == 3


def test_latency_row() -> None:
    row = latency_row("text-128", 4, [0.2, 0.1, 0.3], audio_s=2.0, chars=512)
    assert row["p50_s"] == 0.2
    assert row["rtf"] == pytest.approx(0.1)
    assert row["chars_per_s"] == pytest.approx(2560)


def test_systems_add_gpu_rows_only_with_a_gpu() -> None:
    usable = {"pytorch", "onnxruntime", "tensorrt"}
    assert list(autovoice_systems(usable, gpu=False)) == ["pytorch", "onnxruntime"]
    on_gpu = autovoice_systems(usable, gpu=True)
    assert list(on_gpu)[2:] == [
        "pytorch-cuda",
        "onnxruntime-cuda",
        "tensorrt-fp32",
        "tensorrt-fp16",
    ]
    assert on_gpu["tensorrt-fp16"]["backend_options"] == {"tensorrt": {"fp16": True}}
    assert list(autovoice_systems({"pytorch"}, gpu=True)) == ["pytorch", "pytorch-cuda"]
    assert "tensorrt-fp32" not in autovoice_systems({"onnxruntime"}, gpu=True)


def test_dynamic_workloads_do_the_same_work() -> None:
    texts = workloads()
    assert [len(t) for t in texts["mixed"]] == list(MIXED_LENGTHS)
    assert sum(map(len, texts["mixed"])) == sum(map(len, texts["fixed"]))
    assert len(text_of(500)) == 500
    assert len(TEXT_128) == 128


# -- ratios ------------------------------------------------------------------------------------


def _row(system: str, case: str, batch: int, rtf: float) -> dict[str, object]:
    return {"system": system, "input": case, "batch": batch, "rtf": rtf}


def test_ratios_against_a_reference_per_input_and_batch() -> None:
    rows = [
        _row("pytorch", "text-128", 1, 0.2),
        _row("pytorch", "text-128", 4, 0.1),
        _row("onnxruntime", "text-128", 1, 0.05),
        _row("onnxruntime", "text-128", 4, 0.05),
        _row("onnxruntime", "paragraph", 1, 0.05),  # no reference row: left out
    ]
    found = {(r["system"], r["batch"]): r["ratio"] for r in ratios(rows, "pytorch")}
    assert found == {("onnxruntime", 1): pytest.approx(0.25), ("onnxruntime", 4): 0.5}


def test_peer_ratios_compare_cpu_systems_at_batch_one() -> None:
    def row(case: str, batch: int, rtf: float, peak: float) -> dict[str, object]:
        return {"input": case, "batch": batch, "rtf": rtf, "peak_rss_mb": peak}

    results = [
        {
            "system": "onnxruntime",
            "rows": [row("text-128", 1, 0.01, 200.0), row("text-128", 4, 0.005, 900.0)],
        },
        {"system": "pytorch-cuda", "rows": [row("text-128", 1, 0.001, 2000.0)]},
        {"system": "piper", "rows": [row("text-128", 1, 0.05, 400.0)]},
        {"system": "hibari", "error": "not installed"},
    ]
    found = peer_ratios(results, ["piper", "hibari"])
    assert found == [
        {
            "system": "onnxruntime",
            "reference": "piper",
            "input": "text-128",
            "batch": 1,
            "ratio": pytest.approx(0.2),
            "memory_ratio": 0.5,
        }
    ]


def test_cold_start_ratios_and_torch_detection() -> None:
    rows = [
        {"system": "onnxruntime", "median_s": 1.0, "peak_rss_mb": 150.0},
        {"system": "pytorch", "error": "boom"},
        {"system": "piper", "median_s": 2.0, "peak_rss_mb": 100.0},
    ]
    assert cold_ratios(rows) == [
        {"system": "onnxruntime", "peer": "piper", "cold_start_ratio": 0.5, "memory_ratio": 1.5}
    ]
    log = "import time:       120 |        120 |   numpy\nimport time:  9 |  900 | torch\n"
    assert imports_torch(log)
    assert imports_torch("import time: 1 | 1 |     torch.nn.modules")
    assert not imports_torch("import time: 1 | 1 | torchaudio_free\nimport time: 1 | 1 | ort")
    args = synthesize_args(
        "v",
        "o.wav",
        2,
        {"backend": "tensorrt", "device": "cuda", "backend_options": {"tensorrt": {"fp16": True}}},
    )
    assert args[-2:] == ["--set", "inference.options.fp16=true"]
    assert args[args.index("--threads") + 1] == "2"


# -- tables and the docs page ------------------------------------------------------------------


def test_markdown_table() -> None:
    text = markdown_table(["a", "b"], [[1, 0.123456], ["x", 2.0]])
    lines = text.splitlines()
    assert lines[0] == "| a | b |"
    assert lines[1] == "| --- | --- |"
    assert lines[2] == "| 1 | 0.1235 |"
    assert len(lines) == 4


def _result(suite: str, date: str, **extra: object) -> dict[str, object]:
    machine = {
        "date": date,
        "cpu": "Test CPU",
        "cores": 2,
        "gpu": None,
        "python": "3.11",
        "versions": {"torch": "2.13", "tensorrt": None},
        "commit": "abcdef1234567890-dirty",
        "threads": 2,
        "load_average": [3.5, 1.0, 1.0],
    }
    return {"suite": suite, "machine": machine, "quick": False, "wall_s": 12.0, **extra}


def test_render_orders_suites_and_includes_unknown_ones() -> None:
    results = {
        "zeta": _result("zeta", "2026-01-01", about="Zeta things."),
        "dynamic": _result(
            "dynamic",
            "2026-01-01",
            voice={
                "note": "the default voice",
                "stages": {
                    "acoustic": {"plugin": "voice_transformer", "options": {"preset": "tiny"}},
                    "vocoder": {"plugin": "griffin_lim", "options": {"iterations": 32}},
                },
                "total_onnx_mb": 6.7,
            },
        ),
        "checkpoints": _result("checkpoints", "2026-01-02"),
        "inference": _result(
            "inference",
            "2026-01-03",
            peer_ratios=[
                {
                    "system": "onnxruntime",
                    "reference": "piper",
                    "input": "text-128",
                    "batch": 1,
                    "ratio": 0.5,
                    "memory_ratio": 2.0,
                },
            ],
        ),
        "coldstart": _result(
            "coldstart",
            "2026-01-03",
            peer_ratios=[
                {
                    "system": "onnxruntime",
                    "peer": "piper",
                    "cold_start_ratio": 0.25,
                    "memory_ratio": 1.0,
                },
            ],
        ),
    }
    tables = {name: f"| table of {name} |" for name in results}
    page = _report.render(
        results, tables, images={"inference": "images/bench-inference.png"}, total_s=600.0
    )
    heads = [line for line in page.splitlines() if line.startswith("## ")]
    assert heads == [
        "## autovoice against peers",
        f"## {_report.TITLES['inference']}",
        f"## {_report.TITLES['coldstart']}",
        f"## {_report.TITLES['dynamic']}",
        f"## {_report.TITLES['checkpoints']}",
        "## zeta",
    ]
    assert "| onnxruntime | piper | 0.5 |  | 2 | 0.25 |" in page
    assert "![inference](images/bench-inference.png)" in page
    assert "Test CPU (2 cores), no GPU; Python 3.11; torch 2.13" in page
    assert "Zeta things." in page and "| table of zeta |" in page
    assert "commit abcdef123456 (with uncommitted changes)" in page
    assert "load average 3.5" in page and "10.0 minutes" in page
    assert "autovoice voice: the default voice (acoustic voice_transformer tiny, vocoder " in page


def test_peer_summary_leaves_missing_suites_empty() -> None:
    results = {
        "coldstart": _result(
            "coldstart",
            "d",
            peer_ratios=[
                {
                    "system": "pytorch",
                    "peer": "hibari",
                    "cold_start_ratio": 3.0,
                    "memory_ratio": 4.0,
                }
            ],
        )
    }
    assert _report.peer_summary(results) == [
        {
            "system": "pytorch",
            "peer": "hibari",
            "text-128": None,
            "paragraph": None,
            "memory": None,
            "cold_start": 3.0,
        }
    ]


def test_load_results_reads_what_write_results_wrote(tmp_path) -> None:
    write_results(tmp_path, "data", _result("data", "d", rows=[1]), "| t |")
    (tmp_path / "notes.json").write_text(json.dumps([1, 2]))
    results, tables = _report.load_results(tmp_path)
    assert list(results) == ["data"] and results["data"]["rows"] == [1]
    assert tables == {"data": "| t |\n"}


def test_about_is_the_first_paragraph_in_markdown() -> None:
    class Module:
        __doc__ = "Cold start: ``autovoice\n synthesize`` to a file.\n\nMore text."

    assert about(Module) == "Cold start: `autovoice synthesize` to a file."


def test_charts_are_written_when_matplotlib_is_there(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    results = {
        "coldstart": {"rows": [{"system": "onnxruntime", "median_s": 1.0, "peak_rss_mb": 90.0}]},
        "training": {"rows": []},
    }
    drawn = _report.charts(results, tmp_path / "img", prefix="img/")
    assert drawn == {"coldstart": "img/bench-coldstart.png"}
    assert (tmp_path / "img" / "bench-coldstart.png").stat().st_size > 1000


# -- quantization ------------------------------------------------------------------------------


def test_relative_error_compares_the_frames_both_outputs_have() -> None:
    reference = np.full((1, 2, 4), 2.0, np.float32)
    longer = np.concatenate([reference + 0.5, np.full((1, 2, 3), 99.0, np.float32)], axis=2)
    assert relative_error(reference, longer) == pytest.approx(0.25)
    assert relative_error(reference, longer[..., :2] - 1.5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="rank"):
        relative_error(reference, reference[0])
    with pytest.raises(ValueError, match="all zeros"):
        relative_error(np.zeros(3), np.ones(3))


def test_quantize_rows_say_speed_error_and_refusals() -> None:
    assert HELD_OUT not in CALIBRATION
    rows = [
        {"stage": "acoustic", "variant": "fp32", "size_mb": 9.3, "seconds": 0.02, "speedup": 1.0},
        {"stage": "acoustic", "variant": "static QDQ", "size_mb": 2.8, "seconds": 0.01,
         "speedup": 2.0, "relative_error": 0.1875, "same_lengths": False},
        {"stage": "vocoder", "variant": "dynamic", "error": "RuntimeError: no"},
    ]  # fmt: skip
    lines = quantize_table(rows).splitlines()
    assert (
        lines[3] == "| acoustic | static QDQ | 2.80 | 10.00 | 2.00x | 0.188 | mel lengths differ |"
    )
    assert lines[4] == "| vocoder | dynamic |  |  |  |  | RuntimeError: no |"


def test_the_calibration_reader_gives_each_feed_once_until_rewound() -> None:
    feeds = [{"mel": np.zeros(1)}, {"mel": np.ones(1)}]
    reader = _Feeds(feeds)
    assert [reader.get_next(), reader.get_next(), reader.get_next()] == [*feeds, None]
    reader.rewind()
    assert reader.get_next() is feeds[0]
