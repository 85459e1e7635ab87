"""Checkpoints to a voice bundle: rebuild, export to ONNX, check against PyTorch, pack.

Each stage is rebuilt from its checkpoint alone (the config, symbol table and speakers saved
with it), so a bundle never depends on the config file at hand. The bundle is written into a
temporary directory beside the target and renamed into place when complete: a failed export
leaves nothing behind. The vocoder stage records its head (the recipe's, else the vocoder spec's)
and the head's options; with no vocoder checkpoint the vocoder stage is the head that is
Griffin-Lim from the mel: a manifest entry of head options, no graph or weights.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tarfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from autovoice.bundle import VoiceBundle, graphless_vocoder_entry, head_fields
from autovoice.bundle.writer import build_manifest, write_manifest
from autovoice.config import Config, ExportConfig, apply_overrides, parse_override, unstructure
from autovoice.config.schema import AudioConfig
from autovoice.errors import AutovoiceError
from autovoice.export.errors import ExportError
from autovoice.export.mels import check_audio_match
from autovoice.export.onnx import export_onnx
from autovoice.export.shared_weights import share_weights
from autovoice.export.validate import (
    ValidationCase,
    ValidationLengths,
    acoustic_cases,
    converter_cases,
    validate_exported_model,
    vocoder_cases,
)
from autovoice.heads import MEL_GRIFFIN_LIM, BoundHead, get_head
from autovoice.plugins import Registry
from autovoice.specs import BackendSpec
from autovoice.text import SymbolTable
from autovoice.training.checkpoints.records import META_FILE
from autovoice.training.recipe import Recipe
from autovoice.training.stages import (
    FIRST_STAGES,
    VOCODER_STAGES,
    StageError,
    StageSource,
    rebuild_stage,
)

logger = logging.getLogger(__name__)

__all__ = [
    "KeptStage",
    "StageSource",
    "export_settings",
    "export_stage_onnx",
    "export_voice",
    "head_overrides",
    "keep_vocoder",
    "load_stage",
    "rebind_head",
    "validate_stage",
]

_UNFOLDED = ("parametrizations.", "weight_g", "weight_v")
ENGINES_DIR = "engines"
"""The folder of a voice bundle that holds its engines."""


def load_stage(
    text: str | os.PathLike[str],
    stage: str | tuple[str, ...],
    registry: Registry,
    *,
    model_options: Mapping[str, Any] | None = None,
) -> StageSource:
    """The stage of the checkpoint ``text`` names, rebuilt by
    :func:`autovoice.training.stages.rebuild_stage` (with ``model_options``), with a vocoder's
    head bound (:func:`vocoder_head`); what cannot be rebuilt is an :class:`ExportError`."""
    try:
        source = rebuild_stage(text, stage, registry, model_options=model_options)
    except StageError as exc:
        raise ExportError(str(exc)) from None
    if source.stage != "vocoder":
        return source
    head = vocoder_head(source.config.vocoder.name, source.recipe, registry)
    return attrs.evolve(source, head=head)


def vocoder_head(plugin: str, recipe: Recipe, registry: Registry) -> BoundHead:
    """The head the vocoder ``plugin``'s exported graph needs: the recipe's, else the spec's,
    with the recipe's head options; an :class:`ExportError` when its graph lacks an output
    the head reads, or the head or its options are unknown."""
    spec = registry.get("vocoder", plugin)
    name = recipe.head or getattr(spec, "head", "waveform")
    where = f"vocoder plugin {plugin!r}"
    try:
        head = get_head(name, path=f"{where}: head").bind(
            recipe.head_options, path=f"{where}: head_options"
        )
    except AutovoiceError as exc:
        raise ExportError(str(exc)) from None
    outputs = recipe.signature.output_names
    if not head.head.graph:
        raise ExportError(f"{where}: head {name!r} is a vocoder by itself and reads no graph")
    if head.head.missing(outputs):
        raise ExportError(
            f"{where}: head {name!r} reads {', '.join(head.head.reads)}; the graph outputs "
            f"{', '.join(outputs)}"
        )
    return head


HEAD_OPTION = "vocoder.head_options."
"""The prefix of an export override that sets an option of the vocoder's head."""
MODEL_OPTION = "model.options."
"""The prefix of an export override that sets an inference option of the acoustic model."""


def export_settings(base: ExportConfig, overrides: Sequence[str]) -> ExportConfig:
    """``base`` with ``export.KEY=VALUE`` overrides applied (head options,
    ``vocoder.head_options.NAME=VALUE``, and the model's inference options,
    ``model.options.NAME=VALUE``, are :func:`head_overrides`'; other sections are refused)."""
    known = ("export.", HEAD_OPTION, MODEL_OPTION)
    wrong = [text for text in overrides if not text.strip().startswith(known)]
    if wrong:
        raise ExportError(
            f"--set {wrong[0]}: only export.* settings, {HEAD_OPTION}NAME and {MODEL_OPTION}NAME "
            "apply to an export"
        )
    chosen = [text for text in overrides if text.strip().startswith("export.")]
    return apply_overrides(attrs.evolve(Config(), export=base), chosen).export


def head_overrides(overrides: Sequence[str], prefix: str = HEAD_OPTION) -> dict[str, Any]:
    """``{NAME: value}`` of the ``vocoder.head_options.NAME=VALUE`` overrides (TOML values),
    or of those under another ``prefix`` (``model.options.``)."""
    chosen: dict[str, Any] = {}
    for text in overrides:
        if not text.strip().startswith(prefix):
            continue
        try:
            keys, value = parse_override(text)
        except AutovoiceError as exc:
            raise ExportError(str(exc)) from None
        if len(keys) != 3:
            raise ExportError(f"--set {text}: expected {prefix}NAME=VALUE")
        chosen[keys[2]] = value
    return chosen


def rebind_head(
    head: BoundHead, changes: Mapping[str, Any], audio: AudioConfig, where: str
) -> BoundHead:
    """``head`` with ``changes`` to its options, checked as a bundle's (field names, values,
    and that they suit a voice of ``audio``): an :class:`ExportError` naming the option."""
    if not changes:
        return head
    path = f"{where}: $.vocoder.head_options"
    try:
        bound = head.head.bind({**head.table, **changes}, path=path)
        bound.check(audio, path=path)
    except AutovoiceError as exc:
        raise ExportError(str(exc)) from None
    return bound


def _with_head_options(
    entry: Mapping[str, Any], head: BoundHead, fields: Sequence[str] = ()
) -> dict[str, Any]:
    """A vocoder stage's manifest entry with ``head``'s options, and the plugin options of the
    same names (which set them at export) made to agree: those in the entry, and those of
    ``fields`` (the plugin's option names), which an older entry may lack."""
    options = entry.get("options")
    if isinstance(options, Mapping):
        names = set(options) | set(fields)
        options = {**options, **{k: v for k, v in head.table.items() if k in names}}
    return {**entry, **({"options": options} if options is not None else {}), **head_fields(head)}


def _option_names(plugin: Any, registry: Registry | None) -> tuple[str, ...]:
    """The option names of the installed vocoder plugin ``plugin`` (none when it is not)."""
    found = registry if registry is not None else Registry.discover()
    try:
        options_type = getattr(found.get("vocoder", str(plugin)), "options_type", None)
    except AutovoiceError:
        return ()
    if options_type is None or not attrs.has(options_type):
        return ()
    return tuple(attrs.fields_dict(options_type))


def _check_folded(module: torch.nn.Module, where: str) -> None:
    unfolded = [key for key in module.state_dict() if any(m in key for m in _UNFOLDED)]
    if unfolded:
        raise ExportError(f"{where}: the export module still has weight norm ({unfolded[0]})")


def _cases(source: StageSource, lengths: ValidationLengths) -> list[ValidationCase]:
    audio = source.config.audio
    n_speakers = max(len(source.speakers), 1)
    floor = math.log(audio.log_clamp)
    if source.stage == "acoustic":
        n_symbols = len(SymbolTable.from_dict(source.symbols))
        return acoustic_cases(n_symbols=n_symbols, n_speakers=n_speakers, lengths=lengths)
    if source.stage == "converter":
        return converter_cases(
            n_mels=audio.n_mels, n_speakers=n_speakers, lengths=lengths, floor=floor
        )
    return vocoder_cases(n_mels=audio.n_mels, lengths=lengths, floor=floor)


def _example(cases: Sequence[ValidationCase]) -> Mapping[str, Any]:
    """The traced inputs: the short case of the largest batch (mixed lengths)."""
    return max(cases, key=lambda c: next(iter(c.inputs.values())).shape[0]).inputs


def _save_weights(module: torch.nn.Module, path: Path, source: StageSource) -> None:
    from safetensors.torch import save_file

    state = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()}
    meta = {"stage": source.stage, "plugin": str(source.section.name)}
    try:
        save_file(state, os.fspath(path), metadata=meta)
    except RuntimeError:  # tensors sharing memory: store each as its own copy
        save_file({k: v.clone() for k, v in state.items()}, os.fspath(path), metadata=meta)


def _checkpoint_entry(source: StageSource) -> dict[str, Any]:
    meta = source.ref.store.read_bytes(f"{source.ref.name}/{META_FILE}")
    return {
        "location": source.ref.location,
        "step": source.checkpoint.step,
        "sha256_meta": hashlib.sha256(meta).hexdigest(),
    }


def _views(source: StageSource) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None:
    """What validation compares of the stage's outputs: its head's views, at its audio."""
    compared_as = source.head.head.compared_as if source.head else None
    if compared_as is None:
        return None
    audio = source.config.audio
    return lambda values: compared_as(values, audio)


def validate_stage(
    source: StageSource,
    module: torch.nn.Module,
    onnx_path: Path,
    tolerance: float,
    lengths: ValidationLengths,
) -> dict[str, Any]:
    """Hold the graph at ``onnx_path`` to ``module`` (the stage's export module) on the stage's
    validation cases; the manifest's ``validation`` entry."""
    report = validate_exported_model(
        module, onnx_path, source.recipe.signature, _cases(source, lengths), tolerance=tolerance,
        log_outputs=source.head.head.log_compared if source.head else (),
        peak_outputs=source.head.head.peak_compared if source.head else (),
        views=_views(source),
    )  # fmt: skip
    ties = f" ({report.ties} rounding ties at .5 went the other way)" if report.ties else ""
    logger.info("%s: ONNX matches PyTorch within %.3g%s", source.stage, report.worst, ties)
    return {
        "tolerance": tolerance,
        "max_abs_diff": report.worst,
        "rounding_ties": report.ties,
        "cases": [c.name for c in report.cases],
    }


def _export_graph(
    source: StageSource, onnx_path: Path, settings: ExportConfig, lengths: ValidationLengths
) -> torch.nn.Module:
    module = source.recipe.export_module().eval()
    _check_folded(module, source.ref.location)
    example = _example(_cases(source, lengths))
    signature = source.recipe.signature
    export_onnx(module, signature, onnx_path, opset=settings.opset, example_inputs=example)
    return module


def _validation(
    source: StageSource,
    module: torch.nn.Module,
    onnx_path: Path,
    settings: ExportConfig,
    lengths: ValidationLengths,
) -> dict[str, Any]:
    if not settings.validate:
        return {}
    return {"validation": validate_stage(source, module, onnx_path, settings.tolerance, lengths)}


def export_stage_onnx(
    source: StageSource, onnx_path: Path, settings: ExportConfig, lengths: ValidationLengths
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The stage's export module, written as ONNX at ``onnx_path`` (weights inside) and, with
    ``settings.validate``, held to PyTorch; the module and the manifest fields this adds."""
    module = _export_graph(source, onnx_path, settings, lengths)
    return module, _validation(source, module, onnx_path, settings, lengths)


def export_stage(
    source: StageSource, root: Path, settings: ExportConfig, lengths: ValidationLengths
) -> dict[str, Any]:
    """Write ``<stage>.onnx`` and ``<stage>.safetensors`` into ``root``, the graph's weights
    read from the safetensors file (:func:`~autovoice.export.shared_weights.share_weights`),
    and hold the graph as written to PyTorch; the manifest entry."""
    onnx_path = root / f"{source.stage}.onnx"
    module = _export_graph(source, onnx_path, settings, lengths)
    signature = source.recipe.signature
    weights = root / f"{source.stage}.safetensors"
    _save_weights(module, weights, source)
    shutil.copymode(onnx_path, weights)  # safetensors writes 0600; a bundle's files are alike
    shared = share_weights(onnx_path, weights)
    logger.info("%s: %d graph tensors read from %s", source.stage, shared, weights.name)
    entry = {
        "plugin": str(source.section.name),
        "options": unstructure(source.section.options),
        "onnx": onnx_path.name,
        "weights": f"{source.stage}.safetensors",
        "signature": signature.to_dict(),
        "opset": settings.opset,
        "checkpoint": _checkpoint_entry(source),
        **_validation(source, module, onnx_path, settings, lengths),
    }
    return entry if source.head is None else _with_head_options(entry, source.head)


@attrs.frozen(kw_only=True)
class KeptStage:
    """A voice bundle's vocoder stage taken as it is: its files copied byte for byte and its
    manifest entry kept (with the head it names, or the one format 1 inferred)."""

    bundle: VoiceBundle
    entry: Mapping[str, Any]
    files: tuple[Path, ...]


def keep_vocoder(
    bundle: str | os.PathLike[str],
    *,
    head_options: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> KeptStage:
    """The vocoder stage of the voice bundle ``bundle`` (a directory or ``.tar``), to export
    with another acoustic model (a re-exported one) and leave unchanged, but for
    ``head_options``: changes to the options of its head (:func:`rebind_head`), for a voice
    whose graph stays and whose head should run otherwise."""
    voice = VoiceBundle.open(bundle, verify=True)
    info = voice.stage("vocoder")
    entry = {
        **voice.manifest["vocoder"],
        "head": info.head,
        "head_options": dict(info.head_options),
    }
    if head_options and info.head is not None:
        kept = get_head(info.head).bind(dict(info.head_options), path="$.vocoder.head_options")
        head = rebind_head(kept, head_options, voice.audio, str(bundle))
        entry = _with_head_options(entry, head, _option_names(info.plugin, registry))
    elif head_options:
        raise ExportError(f"{bundle}: its vocoder stage has no head to set options of")
    files = tuple(path for path in (info.onnx, info.weights) if path is not None)
    return KeptStage(bundle=voice, entry=entry, files=files)


def _is_bundle(path: str | os.PathLike[str]) -> bool:
    return Path(path).is_dir() and (Path(path) / "manifest.json").is_file()


def _target(out_dir: str | os.PathLike[str], archive: bool) -> Path:
    target = Path(out_dir)
    if archive and target.suffix != ".tar":
        target = target.with_name(target.name + ".tar")
    return target


def _pack(work: Path, target: Path) -> None:
    scratch = target.with_name(f".{target.name}.partial")
    with tarfile.open(scratch, "w") as tar:
        for path in sorted(work.rglob("*")):
            tar.add(path, arcname=path.relative_to(work).as_posix(), recursive=False)
    os.replace(scratch, target)


def _publish(work: Path, target: Path, archive: bool) -> None:
    if archive:
        _pack(work, target)
        shutil.rmtree(work)
        return
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(work, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_voice(
    acoustic_checkpoint: str | os.PathLike[str],
    vocoder_checkpoint: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    settings: ExportConfig | None = None,
    overrides: Sequence[str] = (),
    registry: Registry | None = None,
    name: str | None = None,
    archive: bool = False,
    overwrite: bool = False,
    lengths: ValidationLengths | None = None,
    griffin_lim: Mapping[str, Any] | None = None,
) -> Path:
    """Export a voice bundle from two checkpoints (each as
    :func:`~autovoice.training.checkpoints.references.resolve_checkpoint` reads
    it); returns the bundle's directory, or its ``.tar`` with ``archive``.

    A ``vocoder_checkpoint`` that is a voice bundle's directory gives that bundle's vocoder
    stage unchanged (:func:`keep_vocoder`: its files byte for byte), to export a voice's
    acoustic model again. With ``vocoder_checkpoint`` None the vocoder stage is the head that
    is Griffin-Lim from the mel, with the options ``griffin_lim`` gives (``iterations``,
    ``momentum``, ``seed``; defaults where left out).

    The first checkpoint is an acoustic model's (a text-to-speech voice) or a voice conversion
    model's (a ``converter`` stage: a voice that converts recordings); its checkpoint says which.
    ``settings`` default to the first checkpoint's ``[export]`` section, with ``overrides``
    (``export.KEY=VALUE``) on top; ``out_dir`` defaults to ``export.output_dir``. ``lengths``
    are the short, typical and long inputs of the parity check.
    """
    registry = registry if registry is not None else Registry.discover()
    model_options = head_overrides(overrides, MODEL_OPTION)
    acoustic = load_stage(acoustic_checkpoint, FIRST_STAGES, registry, model_options=model_options)
    changes = head_overrides(overrides)
    settings = export_settings(settings or acoustic.config.export, overrides)
    audio = acoustic.config.audio
    vocoder: StageSource | KeptStage | dict[str, Any]
    if vocoder_checkpoint is None:
        vocoder = _griffin_lim({**(griffin_lim or {}), **changes}, audio)
    elif _is_bundle(vocoder_checkpoint):
        vocoder = keep_vocoder(vocoder_checkpoint, head_options=changes, registry=registry)
        check_audio_match(audio, vocoder.bundle.audio, str(vocoder_checkpoint))
    else:
        vocoder = load_stage(vocoder_checkpoint, VOCODER_STAGES, registry)
        check_audio_match(audio, vocoder.config.audio, vocoder.ref.location)
        if vocoder.head is not None:
            head = rebind_head(vocoder.head, changes, audio, vocoder.ref.location)
            vocoder = attrs.evolve(vocoder, head=head)
    if settings.tensorrt and not isinstance(vocoder, StageSource):
        raise ExportError(
            "$.export.tensorrt: engines are built for a voice with a vocoder checkpoint; "
            "a Griffin-Lim vocoder has no graph, a kept one no checkpoint (export without "
            "engines)"
        )
    if settings.tensorrt and acoustic.stage != "acoustic":
        raise ExportError(
            f"$.export.tensorrt: engines are built for text-to-speech voices only; export "
            f"the {acoustic.stage} checkpoint {acoustic.ref.location} without them"
        )
    target = _target(out_dir if out_dir is not None else settings.output_dir, archive)
    if target.exists() and not overwrite:
        raise ExportError(f"{target}: already exists; remove it or allow overwriting (--force)")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")
    work.mkdir()
    try:
        sizes = lengths or ValidationLengths()
        _write_bundle(work, acoustic, vocoder, settings, sizes, name or target.stem)
        _publish(work, target, archive)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target


def _griffin_lim(options: Mapping[str, Any], audio: AudioConfig) -> dict[str, Any]:
    """The vocoder entry of the mel's Griffin-Lim head, options checked (an
    :class:`ExportError` naming them)."""
    path = "$.vocoder.head_options"
    try:
        head = get_head(MEL_GRIFFIN_LIM).bind(dict(options), path=path)
        head.check(audio, path=path)
    except AutovoiceError as exc:
        raise ExportError(f"Griffin-Lim vocoder: {exc}") from None
    return graphless_vocoder_entry(head)


def _write_bundle(
    work: Path,
    acoustic: StageSource,
    vocoder: StageSource | KeptStage | Mapping[str, Any],
    settings: ExportConfig,
    lengths: ValidationLengths,
    name: str,
) -> None:
    stages = {acoustic.stage: export_stage(acoustic, work, settings, lengths)}
    if isinstance(vocoder, StageSource):
        stages["vocoder"] = export_stage(vocoder, work, settings, lengths)
    elif isinstance(vocoder, KeptStage):
        for path in vocoder.files:
            shutil.copy2(path, work / path.name)
        stages["vocoder"] = dict(vocoder.entry)
    else:
        stages["vocoder"] = dict(vocoder)
    engines = build_engines(work, acoustic.config, settings, stages) if settings.tensorrt else []
    manifest = build_manifest(
        root=work,
        name=name,
        audio=acoustic.config.audio,
        text=acoustic.config.text,
        symbols=acoustic.symbols,
        speakers=acoustic.speakers,
        stages=stages,
        settings=settings,
        engines=engines,
    )
    write_manifest(work, manifest)
    VoiceBundle.open(work, verify=True)  # what the readers will see, checked once


def build_engines(
    work: Path, config: Config, settings: ExportConfig, stages: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """TensorRT engines of both stages (``export.tensorrt``), built by the tensorrt backend's
    engine builder (:attr:`autovoice.specs.BackendSpec.engine_builder`) with the profiles of
    ``[export]`` into ``engines/``; returns their manifest entries."""
    spec = Registry.discover().get("backend", "tensorrt")
    status = spec.availability()
    if not status.available:
        raise ExportError(f"$.export.tensorrt: the tensorrt backend is {status}")
    if not isinstance(spec, BackendSpec) or spec.engine_builder is None:
        raise ExportError("$.export.tensorrt: the tensorrt backend builds no engines")
    config = attrs.evolve(config, export=settings)
    entries = spec.builder().build_voice(config, work, work / ENGINES_DIR, fp16=settings.fp16)
    return [{**entry, "file": f"{ENGINES_DIR}/{entry['file']}"} for entry in entries]
