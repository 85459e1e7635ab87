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
    """The whole path in a few minutes on a CPU: make a corpus, train the acoustic model (then
    resume it), train the vocoder, export a voice bundle, and speak demo.wav with ONNX Runtime."""
    install_project(session, "train,onnxruntime")
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
        "demo.wav",
        "--voice",
        "demo-run/voice",
        "--backend",
        "onnxruntime",
        "--verbose",
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark suites: ``nox -s bench -- --suite checkpoints [--quick]``."""
    install_project(session, "train,onnxruntime,dev")
    session.run("python", "-m", "benchmarks.run", *session.posargs)


@nox.session
def gpu(session: nox.Session) -> None:
    """GPU and TensorRT tests, on a machine with CUDA (installs the tensorrt extra)."""
    session.install("-e", ".[train,gpu,tensorrt,dev]")
    session.run("pytest", "-m", "gpu or tensorrt", *session.posargs)
