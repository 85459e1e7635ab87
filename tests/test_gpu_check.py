"""The GPU device check's parts that need no GPU: its verdicts (a run that skipped or ran on the
CPU never passes), its comparisons (a difference beyond the tolerance fails), the verdict on a
GPU test run's report, the nox session's pins, and its checks run on the CPU where they can."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.gpu_check import (
    CHECKS,
    failed,
    junit_counts,
    junit_verdict,
    learned,
    main,
    ok,
    parity,
    summary,
    unavailable,
)

ROOT = Path(__file__).resolve().parent.parent


def test_parity_fails_beyond_the_tolerance() -> None:
    want = np.linspace(-1, 1, 50, dtype=np.float32)
    assert parity(want + 5e-4, want, tolerance=1e-3, relative=False)["status"] == "ok"
    worse = want.copy()
    worse[7] += 2e-3
    result = parity(worse, want, tolerance=1e-3, relative=False)
    assert result["status"] == "failed" and "max_abs_diff 0.002 above 0.001" in result["why"]
    scaled = parity(10 * worse, 10 * want, tolerance=1e-3, relative=True)
    assert scaled["status"] == "failed" and scaled["max_rel_diff"] == pytest.approx(2e-3, rel=1e-3)
    assert "shapes differ" in parity(want[:3], want, tolerance=1, relative=False)["why"]
    nan = want.copy()
    nan[0] = np.nan
    assert parity(nan, want, tolerance=1, relative=False)["why"] == "not finite"


def test_training_must_be_finite_and_learn() -> None:
    assert learned([5.0, 4.0, 3.5, 3.0, 2.0, 1.5])["status"] == "ok"
    assert "did not fall" in learned([2.0, 2.0, 2.0, 2.1])["why"]
    assert learned([2.0, float("nan"), 1.0])["why"] == "loss not finite at step 1"
    assert learned([])["why"] == "no steps"


def _all_ok() -> dict:
    return {name: ok() for name in CHECKS}


def test_only_a_cuda_run_with_every_check_ok_passes() -> None:
    assert summary("cuda", _all_ok())["ok"] is True
    assert summary("cuda:1", _all_ok())["ok"] is True
    on_cpu = summary("cpu", _all_ok())
    assert on_cpu["ok"] is False and "ran on cpu, not on a CUDA device" in on_cpu["why"]
    for bad in (unavailable("no NCCL"), failed("drift")):
        checks = {**_all_ok(), "ddp": bad}
        line = summary("cuda", checks)
        assert line["ok"] is False and line["why"] == "not ok: ddp"
    partial = _all_ok()
    del partial["logmel"]
    assert summary("cuda", partial)["ok"] is False


def _report(path: Path, tests: int, skipped: int, reason: str = "needs TensorRT") -> Path:
    cases = "".join(
        f'<testcase name="t{i}">'
        + (f'<skipped message="{reason}" type="pytest.skip"/>' if i < skipped else "")
        + "</testcase>"
        for i in range(tests)
    )
    path.write_text(
        f'<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{tests}" '
        f'skipped="{skipped}" failures="0" errors="0">{cases}</testsuite></testsuites>'
    )
    return path


def test_a_gpu_run_where_every_test_skipped_does_not_count(tmp_path: Path) -> None:
    skipped = junit_counts(_report(tmp_path / "a.xml", 3, 3))
    assert skipped["skip_reasons"] == ["needs TensorRT"]
    why = junit_verdict(skipped, gpu_present=True)
    assert why is not None and "every GPU test skipped (3 of 3): needs TensorRT" in why
    assert "no CUDA device here" in str(junit_verdict(skipped, gpu_present=False))
    ran = junit_counts(_report(tmp_path / "b.xml", 3, 2))
    assert junit_verdict(ran, gpu_present=True) is None
    empty = junit_counts(_report(tmp_path / "c.xml", 0, 0))
    assert "no test was collected" in str(junit_verdict(empty, gpu_present=True))
    report = str(tmp_path / "a.xml")
    assert main(["verify-junit", report, "--gpu-present"]) == 1
    assert main(["verify-junit", str(tmp_path / "b.xml"), "--gpu-present"]) == 0


def _assigned(path: Path, name: str) -> object:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path}: no {name}")


def test_the_gpu_session_pins_versions_the_extras_allow() -> None:
    from packaging.requirements import Requirement

    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    allowed = [
        Requirement(r) for key in ("gpu", "tensorrt") for r in extras["optional-dependencies"][key]
    ]
    pins = [Requirement(p) for p in _assigned(ROOT / "noxfile.py", "GPU_PINS")]  # type: ignore[union-attr]
    assert {p.name for p in pins} == {"onnxruntime-gpu", "tensorrt", "cuda-python"}
    for pin in pins:
        (version,) = [s.version for s in pin.specifier]
        ranges = [r for r in allowed if r.name == pin.name]
        assert ranges and all(r.specifier.contains(version) for r in ranges), pin
    assert str(_assigned(ROOT / "noxfile.py", "GPU_TORCH")).startswith("torch==")


def test_without_cuda_every_check_is_unavailable_and_the_run_fails(capsys) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    assert main(["--device", "cuda", "--steps", "2"]) == 1
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["ok"] is False and set(line["checks"]) == set(CHECKS)
    assert {c["status"] for c in line["checks"].values()} == {"unavailable"}
    assert "sees no CUDA device" in line["checks"]["ddp"]["why"]


def test_the_pytorch_backend_check_compares_two_loads() -> None:
    pytest.importorskip("torch")
    from benchmarks.gpu_check import check_backend, sizes

    result = check_backend("cpu", sizes(quick=True), allow_cpu=True)
    assert result["status"] == "ok" and result["max_rel_diff"] == 0.0 and result["rtf"] > 0
    assert check_backend("cpu", sizes(quick=True))["status"] == "unavailable"


@pytest.mark.slow
def test_the_script_runs_the_cpu_checks_and_never_passes_on_the_cpu() -> None:
    pytest.importorskip("torch")
    result = subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "gpu-check.sh"),
            "--device",
            "cpu",
            "--steps",
            "3",
            "--quick",
        ],
        capture_output=True,
        text=True,
        timeout=1200,  # a hang guard: bf16 steps on a busy 2-core CPU take minutes
        check=False,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["ok"] is False and line["device"] == "cpu"
    checks = line["checks"]
    assert checks["train_bf16"]["status"] == "ok" and checks["train_bf16"]["steps_per_s"] > 0
    assert checks["train_fp16"]["status"] == "unavailable"
    assert checks["logmel"]["status"] == "ok" and checks["logmel"]["max_abs_diff"] < 1e-3
    assert checks["ddp"] == {
        "status": "ok",
        "backend": "gloo",
        "max_weight_diff": 0.0,
        "all_reduce": [1.0, 1.0, 1.0],
    }
