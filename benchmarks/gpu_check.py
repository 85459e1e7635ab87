"""The device check of a GPU machine: a few minutes that say whether autovoice trains and runs
right on CUDA, ending stdout with one JSON line.

    python -m benchmarks.gpu_check [--steps 40] [--device cuda]       (scripts/gpu-check.sh)
    python -m benchmarks.gpu_check verify-junit REPORT.xml [--gpu-present]      (nox -s gpu)

It is made for a machine with a CUDA build of torch, no network, and neither tensorrt nor
onnxruntime-gpu (scripts/gpu-check.sh installs the few pure-Python dependencies carried as
wheels). Each check gives ``ok``, ``failed`` (with why) or ``unavailable`` (with why):

- ``train_bf16``, ``train_fp16``: training steps of the iSTFT vocoder's recipe on CUDA under
  bf16 and fp16 autocast (fp16 with the gradient scaler the trainer uses): every loss finite,
  the last steps' loss below the first steps', the scaler's scale finite; steps per second;
- ``logmel``: the torch log-mel on CUDA against the numpy reference (max absolute difference);
  frames per second;
- ``pytorch_backend``: the pytorch backend's vocoder stage on CUDA against the same stage on the
  CPU (difference relative to the peak); real-time factor on CUDA;
- ``ddp``: one DistributedDataParallel step at world size 1 over NCCL, which must move the
  weights exactly as the same step without DDP does, and an all-reduce.

The run is ``ok`` only when it ran on CUDA and every check is ``ok``: a check that could not
run fails the run, so it cannot pass by skipping. TF32 is turned off for the parity checks.
``--device cpu`` runs what the CPU can (for the tests of this module) and is never ``ok``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import socket
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Result = dict[str, Any]
"""One check's outcome: ``status`` (ok, failed, unavailable), ``why`` unless ok, figures."""

CHECKS = ("train_bf16", "train_fp16", "logmel", "pytorch_backend", "ddp")
LOGMEL_TOLERANCE = 1e-3
"""Max absolute log-mel difference, CUDA against numpy (the CPU twin is held to 1e-4)."""
BACKEND_TOLERANCE = 1e-3
"""Max difference of the vocoder's audio, CUDA against CPU, relative to the peak."""


# -- results (pure) ----------------------------------------------------------------------------


def ok(**figures: Any) -> Result:
    return {"status": "ok", **figures}


def failed(why: str, **figures: Any) -> Result:
    return {"status": "failed", "why": why, **figures}


def unavailable(why: str) -> Result:
    return {"status": "unavailable", "why": why}


def parity(got: np.ndarray, want: np.ndarray, *, tolerance: float, relative: bool) -> Result:
    """How far ``got`` is from ``want``: the max absolute difference (relative to ``want``'s
    peak when ``relative``), ``ok`` when finite, of one shape and within ``tolerance``."""
    if got.shape != want.shape:
        return failed(f"shapes differ: {list(got.shape)} against {list(want.shape)}")
    if not np.isfinite(got).all():
        return failed("not finite")
    diff = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max(initial=0.0))
    if relative:
        diff /= max(float(np.abs(want).max(initial=0.0)), 1e-12)
    key = "max_rel_diff" if relative else "max_abs_diff"
    if diff <= tolerance:
        return ok(**{key: diff, "tolerance": tolerance})
    return failed(f"{key} {diff:.3g} above {tolerance:g}", **{key: diff, "tolerance": tolerance})


def learned(losses: Sequence[float], window: int = 5) -> Result:
    """``ok`` when every loss is finite and the last ``window`` average below the first."""
    if not losses or not all(math.isfinite(x) for x in losses):
        bad = next((i for i, x in enumerate(losses) if not math.isfinite(x)), None)
        return failed(f"loss not finite at step {bad}" if bad is not None else "no steps")
    n = max(1, min(window, len(losses) // 2))
    first, last = float(np.mean(losses[:n])), float(np.mean(losses[-n:]))
    figures = {"loss_first": first, "loss_last": last, "steps": len(losses)}
    if last < first:
        return ok(**figures)
    return failed(f"loss did not fall ({first:.4g} -> {last:.4g})", **figures)


def summary(device: str, checks: Mapping[str, Mapping[str, Any]], **about: Any) -> Result:
    """The JSON line: ``ok`` only on CUDA with every check of :data:`CHECKS` ``ok``."""
    missing = [name for name in CHECKS if name not in checks]
    not_ok = [name for name in CHECKS if checks.get(name, {}).get("status") != "ok"]
    on_gpu = device.partition(":")[0] == "cuda"
    why = []
    if not on_gpu:
        why.append(f"ran on {device}, not on a CUDA device")
    if not_ok:
        why.append("not ok: " + ", ".join(not_ok))
    return {
        "check": "gpu",
        "ok": on_gpu and not not_ok and not missing,
        "why": "; ".join(why),
        "device": device,
        **about,
        "checks": {name: dict(result) for name, result in checks.items()},
    }


def junit_counts(path: str | Path) -> dict[str, Any]:
    """Tests, skipped, failures and errors of a pytest ``--junitxml`` report, with the first
    skip reasons."""
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts: dict[str, Any] = {key: 0 for key in ("tests", "skipped", "failures", "errors")}
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, 0))
    reasons = [s.get("message", "") for s in root.iter("skipped")]
    counts["skip_reasons"] = sorted(set(reasons))[:5]
    return counts


def junit_verdict(counts: Mapping[str, Any], *, gpu_present: bool) -> str | None:
    """Why a run of the GPU tests does not count (None when it does): no CUDA device here, or
    one is here and no GPU test ran."""
    if not gpu_present:
        return "no CUDA device here (nvidia-smi and /dev/nvidia0): run this on a GPU machine"
    ran = int(counts["tests"]) - int(counts["skipped"])
    if ran <= 0:
        reasons = "; ".join(counts.get("skip_reasons") or []) or "no test was collected"
        return (
            f"a CUDA device is present but every GPU test skipped ({counts['skipped']} of "
            f"{counts['tests']}): {reasons}"
        )
    return None


# -- the checks (torch) ------------------------------------------------------------------------


def _torch() -> Any:
    import torch

    return torch


@contextlib.contextmanager
def no_tf32() -> Iterator[None]:
    """Full FP32 matrix products and convolutions, for comparisons with the CPU."""
    torch = _torch()
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        _torch().cuda.synchronize()


def speech_like(batch: int, samples: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Voiced-sounding test audio: harmonics of a gliding pitch, an envelope, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    out = np.empty((batch, samples), np.float32)
    for i in range(batch):
        f0 = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        wave = sum(np.sin(k * phase) / k for k in range(1, 12))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 4) * t) ** 2
        out[i] = 0.3 * wave * envelope + 0.01 * rng.standard_normal(samples)
    return out


def sizes(quick: bool) -> dict[str, int]:
    """Model and batch sizes: the GPU's, or tiny ones (``--quick``, for a CPU)."""
    if quick:
        return {"dim": 32, "intermediate": 64, "layers": 2, "segment": 2048, "batch": 2}
    return {"dim": 256, "intermediate": 768, "layers": 8, "segment": 16384, "batch": 16}


def vocoder_options(size: Mapping[str, int]) -> Any:
    from autovoice_models.istft.spec import IstftOptions  # type: ignore[import-untyped]

    return IstftOptions(
        dim=size["dim"],
        intermediate=size["intermediate"],
        layers=size["layers"],
        segment_size=size["segment"],
        output="waveform",
    )


def check_training(device: str, precision: str, steps: int, size: Mapping[str, int]) -> Result:
    """Training steps of the iSTFT vocoder recipe under ``precision`` autocast."""
    torch = _torch()
    if precision == "fp16" and not device.startswith("cuda"):
        return unavailable("fp16 autocast with a gradient scaler needs CUDA")
    from autovoice.config import AudioConfig, TrainingConfig
    from autovoice.training.features import LogMel
    from autovoice.training.runtime import Runtime, autocast, grad_scaler
    from autovoice_models.istft.recipe import build_recipe  # type: ignore[import-untyped]

    torch.manual_seed(0)
    audio = AudioConfig()
    recipe = build_recipe(vocoder_options(size), audio=audio, training=TrainingConfig())
    for module in recipe.modules.values():
        module.to(device).train()
    wave = torch.from_numpy(speech_like(size["batch"], size["segment"], audio.sample_rate))
    wave = wave.to(device)
    batch = {"audio": wave, "audio_mels": LogMel(audio).to(device)(wave)}
    spec = recipe.optimizers[0]
    params = [p for name in spec.modules for p in recipe.modules[name].parameters()]
    optimizer = torch.optim.AdamW(params, lr=spec.lr, betas=spec.betas)
    runtime = Runtime(torch.device(device), precision)
    scaler = grad_scaler(runtime)
    losses, times = [], []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast(runtime):
            loss = recipe.steps[0].loss(batch, {})["loss"]
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        losses.append(float(loss.detach().float()))
        _sync(device)
        times.append(time.perf_counter() - start)
    result = learned(losses)
    warm = times[min(3, len(times) - 1) :]
    result["steps_per_s"] = 1.0 / float(np.median(warm))
    if scaler is not None:
        scale = float(scaler.get_scale())
        result["grad_scale"] = scale
        if not math.isfinite(scale) or scale <= 0:
            return failed(f"gradient scale {scale}", **result)
    return result


def check_logmel(device: str, quick: bool) -> Result:
    """The torch log-mel on ``device`` against the numpy reference."""
    torch = _torch()
    from autovoice.audio.features import log_mel
    from autovoice.config import AudioConfig
    from autovoice.training.features import LogMel

    audio = AudioConfig()
    wave = speech_like(
        2 if quick else 4, audio.sample_rate * (1 if quick else 3), audio.sample_rate
    )
    want = np.stack([log_mel(w, audio) for w in wave])
    features = LogMel(audio).to(device)
    with no_tf32(), torch.no_grad():
        got = features(torch.from_numpy(wave).to(device)).cpu().numpy()
    result = parity(got, want, tolerance=LOGMEL_TOLERANCE, relative=False)
    long = torch.from_numpy(speech_like(4 if quick else 64, audio.sample_rate * 10, 22050))
    long = long.to(device)
    with torch.no_grad():
        seconds = _timed(lambda: features(long), device, repeat=3 if quick else 10)
    result["frames_per_s"] = long.shape[0] * (long.shape[1] // audio.hop_length) / seconds
    return result


def _timed(run: Callable[[], Any], device: str, repeat: int) -> float:
    """Median seconds of ``run()`` after one warm-up."""
    run()
    _sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def check_backend(device: str, size: Mapping[str, int], *, allow_cpu: bool = False) -> Result:
    """The pytorch backend's vocoder stage on ``device`` against the CPU (``allow_cpu``: also
    the CPU against itself, to test this check where there is no GPU)."""
    if not device.startswith("cuda") and not allow_cpu:
        return unavailable("compares CUDA with the CPU: needs CUDA")
    torch = _torch()
    from safetensors.torch import save_file

    from autovoice.config import AudioConfig, TrainingConfig, unstructure
    from autovoice.inference.stages import StageContext
    from autovoice_models.istft.recipe import build_recipe
    from autovoice_torch.backend import TorchBackend  # type: ignore[import-untyped]
    from benchmarks.gpu_vocoder import registry

    torch.manual_seed(0)
    audio, options = AudioConfig(), vocoder_options(size)
    recipe = build_recipe(options, audio=audio, training=TrainingConfig())
    context = StageContext(
        name="vocoder",
        plugin="istft",
        options=unstructure(options),
        signature=recipe.signature,
        audio=audio,
        registry=registry(),  # type: ignore[arg-type]
    )
    rng = np.random.default_rng(0)
    mel = (rng.standard_normal((1, audio.n_mels, 200)) - 4).astype(np.float32)
    name = context.signature.input_names[0]
    with tempfile.TemporaryDirectory() as tmp, no_tf32():
        weights = Path(tmp) / "vocoder.safetensors"
        save_file(
            {k: v.contiguous() for k, v in recipe.export_module().state_dict().items()}, weights
        )
        cpu = TorchBackend().load(weights, "cpu", stage=context)
        gpu = TorchBackend().load(weights, device, stage=context)
        want = next(iter(cpu.run({name: mel}).values()))
        got = next(iter(gpu.run({name: mel}).values()))
        result = parity(got, want, tolerance=BACKEND_TOLERANCE, relative=True)
    long = rng.standard_normal((1, audio.n_mels, 10 * audio.sample_rate // audio.hop_length)) - 4
    seconds = _timed(lambda: gpu.run({name: long.astype(np.float32)}), device, repeat=5)
    result["rtf"] = seconds / 10.0
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_ddp(device: str) -> Result:
    """One DDP step at world size 1 (NCCL on CUDA, gloo on the CPU) against the same step
    without DDP: the weights must end equal; an all-reduce of ones must give one."""
    torch = _torch()
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl" and not dist.is_nccl_available():
        return unavailable("this torch has no NCCL")
    torch.manual_seed(0)
    plain = torch.nn.Sequential(
        torch.nn.Conv1d(8, 32, 5, padding=2), torch.nn.GELU(), torch.nn.Conv1d(32, 8, 5, padding=2)
    ).to(device)
    twin = _copy(plain)
    x = torch.randn(4, 8, 100, device=device)
    dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1
    )
    try:
        ids = [torch.device(device).index or 0] if backend == "nccl" else None
        wrapped = DistributedDataParallel(twin, device_ids=ids)
        for model in (plain, wrapped):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            model(x).square().mean().backward()
            optimizer.step()
        ones = torch.ones(3, device=device)
        dist.all_reduce(ones)
        diff = max(
            float((a - b).detach().abs().max())
            for a, b in zip(plain.parameters(), twin.parameters(), strict=True)
        )
    finally:
        dist.destroy_process_group()
    figures = {"backend": backend, "max_weight_diff": diff, "all_reduce": ones.tolist()}
    if diff > 1e-6 or ones.tolist() != [1.0, 1.0, 1.0]:
        return failed("the DDP step differs from the plain one", **figures)
    return ok(**figures)


def _copy(module: Any) -> Any:
    import copy

    return copy.deepcopy(module)


def _guarded(run: Callable[[], Result]) -> Result:
    """A check's result; one that raises has failed, with the error as why."""
    try:
        return run()
    except Exception as exc:  # a check that crashes is a finding, reported in the JSON line
        return failed(f"{type(exc).__name__}: {exc}")


def run_checks(device: str, steps: int, quick: bool) -> dict[str, Result]:
    """Every check of :data:`CHECKS` on ``device``; all unavailable when CUDA is asked for and
    torch sees none."""
    torch = _torch()
    if device.startswith("cuda") and not torch.cuda.is_available():
        why = f"torch {torch.__version__} sees no CUDA device (CUDA build: {torch.version.cuda})"
        return {name: unavailable(why) for name in CHECKS}
    size = sizes(quick)
    return {
        "train_bf16": _guarded(lambda: check_training(device, "bf16", steps, size)),
        "train_fp16": _guarded(lambda: check_training(device, "fp16", steps, size)),
        "logmel": _guarded(lambda: check_logmel(device, quick)),
        "pytorch_backend": _guarded(lambda: check_backend(device, size)),
        "ddp": _guarded(lambda: check_ddp(device)),
    }


def about(device: str) -> dict[str, Any]:
    torch = _torch()
    gpu = (
        torch.cuda.get_device_name(device)
        if device.startswith("cuda") and torch.cuda.is_available()
        else None
    )
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": gpu}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["verify-junit"]:
        return verify_junit(args[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=40, help="training steps per precision")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for a CPU)")
    options = parser.parse_args(args)
    if options.steps < 2:
        parser.error("--steps must be at least 2")
    start = time.perf_counter()
    checks = run_checks(options.device, options.steps, options.quick)
    line = summary(
        options.device,
        checks,
        seconds=round(time.perf_counter() - start, 1),
        **about(options.device),
    )
    for name, result in checks.items():
        print(f"{name}: {result['status']} {result.get('why', '')}".rstrip(), flush=True)
    print(json.dumps(line, sort_keys=False), flush=True)
    return 0 if line["ok"] else 1


def verify_junit(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check verify-junit")
    parser.add_argument("report")
    parser.add_argument("--gpu-present", action="store_true")
    options = parser.parse_args(argv)
    counts = junit_counts(options.report)
    why = junit_verdict(counts, gpu_present=options.gpu_present)
    ran = int(counts["tests"]) - int(counts["skipped"])
    print(f"GPU tests: {ran} ran, {counts['skipped']} skipped, {counts['failures']} failed")
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
