"""Build the engines of a voice's two stages: ``build_tensorrt_engines``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs

from autovoice.errors import BackendError
from autovoice.signature import GraphSignature, acoustic_signature, vocoder_signature
from autovoice_tensorrt.backend import TensorRTBackend, cuda_index
from autovoice_tensorrt.device import Cuda
from autovoice_tensorrt.options import TensorRTOptions

#: result key -> (bundle stage, default ONNX file)
STAGES = {"transformer": ("acoustic", "acoustic.onnx"), "vocoder": ("vocoder", "vocoder.onnx")}


def stage_models(models_dir: Path, n_mels: int) -> dict[str, tuple[Path, GraphSignature]]:
    """Each stage's ONNX file and signature: from ``manifest.json`` when ``models_dir`` is a
    voice bundle, else ``acoustic.onnx`` / ``vocoder.onnx`` with the standard signatures."""
    manifest_path = models_dir / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise BackendError(f"{manifest_path}: not valid JSON: {exc}") from exc
    defaults = {"acoustic": acoustic_signature(n_mels), "vocoder": vocoder_signature(n_mels)}
    out = {}
    for key, (stage, filename) in STAGES.items():
        entry = manifest.get(stage, {})
        onnx = models_dir / str(entry.get("onnx", filename))
        if not onnx.is_file():
            raise BackendError(f"{onnx}: no such ONNX model (stage {stage})")
        signature = entry.get("signature")
        out[key] = (
            onnx,
            GraphSignature.from_dict(signature) if signature else defaults[stage],
        )
    return out


def build_tensorrt_engines(
    config: Any,
    models_dir: str | os.PathLike[str],
    engines_dir: str | os.PathLike[str],
    fp16: bool = True,
    *,
    options: TensorRTOptions | None = None,
    device: str = "cuda",
) -> dict[str, Path]:
    """Build (or reuse) the engines of the acoustic model and the vocoder found in
    ``models_dir`` with the profiles of ``config.export``, store them in ``engines_dir`` as
    ``<key>.plan`` with a ``<key>.json`` sidecar, and return ``{'transformer': path,
    'vocoder': path}``."""
    base = options if options is not None else TensorRTOptions()
    backend = TensorRTBackend(
        attrs.evolve(base, fp16=fp16, engine_cache_dir=str(engines_dir), build=True)
    )
    index = cuda_index(device)
    cuda = Cuda()
    cuda.set_device(index)
    gpu = cuda.gpu(index)
    models = stage_models(Path(models_dir), int(config.audio.n_mels))
    return {
        key: backend.prepare(
            onnx, signature=signature, export=config.export, gpu=gpu, stage=STAGES[key][0]
        ).plan
        for key, (onnx, signature) in models.items()
    }


__all__ = ["build_tensorrt_engines", "stage_models"]
