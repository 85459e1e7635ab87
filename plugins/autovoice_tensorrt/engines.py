"""Build engines ahead of time: a voice's two stages (``build_tensorrt_engines``), or one graph
with the profiles given; :data:`BUILDER` is what the backend spec names as its engine builder."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from autovoice.errors import BackendError
from autovoice.signature import GraphSignature, acoustic_signature, vocoder_signature
from autovoice_tensorrt import build
from autovoice_tensorrt.backend import TensorRTBackend, cuda_index, signature_from_onnx
from autovoice_tensorrt.cache import bundle_entry, sidecar_path
from autovoice_tensorrt.device import Cuda
from autovoice_tensorrt.options import TensorRTOptions
from autovoice_tensorrt.profiles import Profile, bounds_from_config, compute_profiles

#: bundle stage -> its default ONNX file
ENGINE_GRAPHS = {"acoustic": "acoustic.onnx", "vocoder": "vocoder.onnx"}


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
    for stage, filename in ENGINE_GRAPHS.items():
        entry = manifest.get(stage, {})
        onnx = models_dir / str(entry.get("onnx", filename))
        if not onnx.is_file():
            raise BackendError(f"{onnx}: no such ONNX model (stage {stage})")
        signature = entry.get("signature")
        out[stage] = (
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
    ``<key>.plan`` with a ``<key>.json`` sidecar, and return ``{'acoustic': path,
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
        stage: backend.prepare(
            onnx, signature=signature, export=config.export, gpu=gpu, stage=stage
        ).plan
        for stage, (onnx, signature) in models.items()
    }


ProfileTable = Mapping[str, Sequence[Sequence[int]]]
"""One optimization profile: per input name, its ``(min, opt, max)`` shapes."""


def table_profiles(tables: Sequence[ProfileTable]) -> tuple[Profile, ...]:
    """Profiles from tables of ``{input: (min, opt, max)}`` shapes, one per profile."""
    if isinstance(tables, Mapping) or not tables:
        raise BackendError("build_engine: profiles must be a list of {input: (min, opt, max)}")
    out = []
    for number, table in enumerate(tables):
        for name, shapes in table.items():
            if len(shapes) != 3:
                raise BackendError(
                    f"build_engine: profiles[{number}][{name!r}] must be (min, opt, max) "
                    f"shapes, got {list(shapes)!r}"
                )
        out.append(
            Profile.from_dict(
                {n: {"min": s[0], "opt": s[1], "max": s[2]} for n, s in table.items()}
            )
        )
    return tuple(out)


def config_profiles(onnx_path: Path, export: Any, hop_length: int | None) -> tuple[Profile, ...]:
    """One profile over the graph's dynamic axes from ``export``'s batch, token and frame
    ranges (``[export]``'s defaults when ``export`` is None)."""
    if export is None:
        from autovoice.config.schema import ExportConfig

        export = ExportConfig()
    bounds = bounds_from_config(export, hop_length=hop_length)
    return tuple(compute_profiles(signature_from_onnx(onnx_path), [bounds]))


class TensorRTBuilder:
    """The tensorrt backend's engine builder (:class:`autovoice.specs.EngineBuilder`)."""

    def build_voice(
        self, config: Any, models_dir: Path, engines_dir: Path, *, fp16: bool
    ) -> list[dict[str, Any]]:
        plans = build_tensorrt_engines(config, models_dir, engines_dir, fp16=fp16)
        return [
            bundle_entry(json.loads(sidecar_path(plan).read_text(encoding="utf-8")), "")
            for plan in plans.values()
        ]

    def build_graph(
        self,
        onnx_path: Path,
        *,
        fp16: bool,
        profiles: Sequence[ProfileTable] | None,
        export: Any,
        hop_length: int | None,
        workspace: int,
    ) -> bytes:
        chosen = (
            table_profiles(profiles)
            if profiles is not None
            else config_profiles(onnx_path, export, hop_length)
        )
        data: bytes = build.build_engine(onnx_path, chosen, fp16=fp16, workspace=workspace)
        return data


BUILDER = TensorRTBuilder()


__all__ = [
    "BUILDER",
    "ProfileTable",
    "TensorRTBuilder",
    "build_tensorrt_engines",
    "config_profiles",
    "stage_models",
    "table_profiles",
]
