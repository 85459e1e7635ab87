"""The design document's ``autovoice.inference.model_exporter``: PyTorch checkpoints → ONNX →
TensorRT engines (torch; the rest of :mod:`autovoice.inference` never imports this module).

Each function is a call into :mod:`autovoice.export`: a checkpoint is read and its stage rebuilt
by :func:`~autovoice.export.bundle_writer.load_stage` (any form
:func:`~autovoice.training.checkpoints.references.resolve_checkpoint` reads: a checkpoint, a
run's checkpoint folder, ``folder@best``), written as ONNX with the dynamic axes of its graph
signature and parity-checked by :func:`~autovoice.export.bundle_writer.export_stage_onnx`;
engines are built by the ``tensorrt`` backend's engine builder, found through the registry
(:attr:`autovoice.specs.BackendSpec.engine_builder`). See ``docs/api.md``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs

from autovoice.config.schema import Config, ExportConfig
from autovoice.export.bundle_writer import (
    export_stage_onnx,
    export_voice,
    load_stage,
    validate_stage,
)
from autovoice.export.errors import ExportError, ExportValidationError
from autovoice.export.graph import graph_problems, read_graph_signature
from autovoice.export.validate import ValidationLengths
from autovoice.inference.tensorrt_engine import require_tensorrt
from autovoice.plugins import Registry
from autovoice.specs import BackendSpec
from autovoice.training.stages import FIRST_STAGES, VOCODER_STAGES

__all__ = [
    "build_tensorrt_engines",
    "export_transformer_to_onnx",
    "export_vocoder_to_onnx",
    "validate_exported_model",
]

ACOUSTIC_DIRS = ("acoustic", "transformer")
"""Where :func:`build_tensorrt_engines` looks for the acoustic model's checkpoints."""
SPEC_KEYS = {"acoustic": "transformer", "vocoder": "vocoder"}
"""The design document's name of each stage's engine in what :func:`build_tensorrt_engines`
returns."""


def _settings(config: Any, fallback: ExportConfig) -> ExportConfig:
    """The ``[export]`` section of ``config`` (a :class:`Config` or an :class:`ExportConfig`),
    or ``fallback`` (the checkpoint's own) when ``config`` is None."""
    if config is None:
        return fallback
    if isinstance(config, Config):
        return config.export
    if isinstance(config, ExportConfig):
        return config
    raise ExportError(f"config must be an autovoice Config or ExportConfig, got {config!r}")


def _export(
    checkpoint_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    config: Any,
    stages: tuple[str, ...],
) -> Path:
    registry = Registry.discover()
    source = load_stage(checkpoint_path, stages, registry)
    settings = _settings(config, source.config.export)
    target = Path(output_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    export_stage_onnx(source, target, settings, ValidationLengths())
    return target


def export_transformer_to_onnx(
    checkpoint_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    config: Any = None,
) -> Path:
    """The acoustic model of ``checkpoint_path`` as ONNX at ``output_path`` (batch, token and
    frame axes dynamic), held to PyTorch when ``config.export.validate`` (``config``: its
    ``[export]`` section wins over the checkpoint's). Returns the path."""
    return _export(checkpoint_path, output_path, config, FIRST_STAGES)


def export_vocoder_to_onnx(
    checkpoint_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    config: Any = None,
) -> Path:
    """The vocoder of ``checkpoint_path`` as ONNX at ``output_path`` (batch and time axes
    dynamic), weight norm folded (the recipe's export module), held to PyTorch when
    ``config.export.validate``. Returns the path."""
    return _export(checkpoint_path, output_path, config, VOCODER_STAGES)


def _holds_onnx(folder: Path) -> bool:
    return (folder / "manifest.json").is_file() or (folder / "acoustic.onnx").is_file()


def _stage_dir(folder: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        if (folder / name).exists():
            return folder / name
    held = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
    raise ExportError(
        f"models_dir {folder}: no {' or '.join(names)} checkpoints, no voice bundle and no "
        f"acoustic.onnx (it holds {held})"
    )


def build_tensorrt_engines(
    config: Config,
    models_dir: str | os.PathLike[str],
    engines_dir: str | os.PathLike[str],
    fp16: bool = True,
) -> dict[str, str]:
    """TensorRT engines of the acoustic model and the vocoder, with the min/opt/max profiles
    of ``config.export``; returns ``{'transformer': path, 'vocoder': path}``.

    ``models_dir`` holds ONNX models (a voice bundle, or ``acoustic.onnx`` and
    ``vocoder.onnx``) or PyTorch checkpoints: ``acoustic/`` (or ``transformer/``) and
    ``vocoder/``, as a training run's output folder has them; these are first exported as a
    voice bundle into ``engines_dir/voice`` (:func:`~autovoice.export.export_voice`). The
    engines are written to ``engines_dir`` as the backend's engine store names them
    (``<engine key>.plan``, each with a ``.json`` record of what it was built for). Without a
    usable TensorRT this raises at once, saying what to install."""
    require_tensorrt("build_tensorrt_engines")
    if not isinstance(config, Config):
        raise ExportError(
            f"build_tensorrt_engines: config must be an autovoice Config, got {config!r}"
        )
    source, target = Path(models_dir), Path(engines_dir)
    if not source.is_dir():
        raise ExportError(f"build_tensorrt_engines: models_dir {source}: no such folder")
    if not _holds_onnx(source):
        acoustic = _stage_dir(source, ACOUSTIC_DIRS)
        vocoder = _stage_dir(source, ("vocoder",))
        settings = attrs.evolve(config.export, tensorrt=False)
        source = export_voice(
            acoustic, vocoder, target / "voice", settings=settings, overwrite=True
        )
    spec = Registry.discover().get("backend", "tensorrt")
    if not isinstance(spec, BackendSpec):
        raise ExportError(f"backend 'tensorrt' is registered with a {type(spec).__name__}")
    entries = spec.builder().build_voice(config, source, target, fp16=fp16)
    return {SPEC_KEYS.get(e["stage"], e["stage"]): os.fspath(target / e["file"]) for e in entries}


def validate_exported_model(
    onnx_path: str | os.PathLike[str],
    pytorch_checkpoint: str | os.PathLike[str] | None = None,
    tolerance: float | None = None,
) -> dict[str, Any]:
    """Check the ONNX model at ``onnx_path``: a valid graph with a readable signature; with
    ``pytorch_checkpoint``, also its outputs against the checkpoint's PyTorch model on short,
    typical and long inputs within ``tolerance`` (default the checkpoint's
    ``export.tolerance``). Returns ``{"inputs", "outputs"}`` names and, when compared,
    ``"validation"`` (largest difference, cases); a graph of another signature or a mismatch
    raises
    :class:`~autovoice.export.errors.ExportValidationError` naming the case and output."""
    path = Path(onnx_path)
    signature = read_graph_signature(path)
    result: dict[str, Any] = {
        "inputs": list(signature.input_names),
        "outputs": list(signature.output_names),
    }
    if pytorch_checkpoint is None:
        return result
    registry = Registry.discover()
    source = load_stage(pytorch_checkpoint, (*FIRST_STAGES, *VOCODER_STAGES), registry)
    problems = graph_problems(signature, source.recipe.signature)
    if problems:
        raise ExportValidationError(
            f"{path} is not the graph of {source.ref.location} ({source.stage}): "
            + "; ".join(problems)
        )
    limit = source.config.export.tolerance if tolerance is None else float(tolerance)
    module = source.recipe.export_module().eval()
    result["validation"] = validate_stage(source, module, path, limit, ValidationLengths())
    return result
