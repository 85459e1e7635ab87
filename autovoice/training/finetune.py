"""Fine-tuning a vocoder on the acoustic model's own mels.

A vocoder trained on recorded mels hears slightly different mels at synthesis time. The
``finetune-vocoder`` stage first runs the trained acoustic model over the corpus, teacher-forced
(its own aligner's durations, the recorded pitch), so that each predicted mel has exactly the
recording's frames; saves them as ``<id>.npy``; then trains the vocoder on (recorded audio,
predicted mel) segments, warm-started from the vocoder stage's weights.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autovoice.config.schema import Config
from autovoice.data.collate import collate
from autovoice.errors import AutovoiceError
from autovoice.plugins import Registry


def _save(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)


def acoustic_model(
    acoustic: str | os.PathLike[str], registry: Registry, config: Config
) -> tuple[Any, dict[str, Any], str]:
    """The acoustic model of a checkpoint, or of a voice bundle (a folder with a manifest:
    its plugin rebuilt with the bundle's options and its safetensors weights loaded); with its
    symbol table and where it came from. A bundle's audio settings must be ``config``'s."""
    from autovoice.bundle import MANIFEST, VoiceBundle

    root = Path(acoustic)
    if not (root / MANIFEST).is_file():
        from autovoice.training.stages import rebuild_stage

        source = rebuild_stage(acoustic, "acoustic", registry)
        return source.recipe.modules["model"], dict(source.symbols), source.ref.location
    from safetensors.torch import load_file

    from autovoice.config.schema import TrainingConfig
    from autovoice.config.structure import structure
    from autovoice.training.recipe import RecipeInputs

    bundle = VoiceBundle.open(root, verify=True)
    info = bundle.stage("acoustic")
    if info.weights is None:
        raise AutovoiceError(f"{root}: the voice's acoustic stage has no weights to rebuild from")
    if bundle.audio != config.audio:
        raise AutovoiceError(f"{root}: the voice's audio settings differ from the config's [audio]")
    spec = registry.get("model", info.plugin)
    options: Any = None
    if spec.options_type is not None:
        where = f"{root}: $.acoustic.options"
        options = structure(dict(info.options), spec.options_type, path=where)
    with torch.random.fork_rng(devices=[]):
        inputs = RecipeInputs(
            audio=bundle.audio, n_symbols=len(bundle.symbols),
            n_speakers=max(len(bundle.speakers), 1), training=TrainingConfig(),
        )  # fmt: skip
        recipe = spec.create(options, **inputs)
    module = recipe.export_module()
    try:
        module.load_state_dict(load_file(str(info.weights)), strict=True)
    except RuntimeError as exc:
        raise AutovoiceError(
            f"{info.weights}: the weights do not fit {info.plugin}: {exc}"
        ) from None
    model = getattr(module, "model", module)  # an export module wraps the model it exports
    return model, bundle.symbols.to_dict(), str(root)


def predict_mels(
    config: Config,
    acoustic: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    registry: Registry,
    batch_size: int = 8,
) -> int:
    """Write the teacher-forced mel of every utterance of ``config``'s corpus, predicted by the
    acoustic checkpoint or voice bundle ``acoustic``, into ``out_dir``; returns how many were
    written. They are the decoder's own mels, before what inference does to them after it
    (VoiceTransformer's ``variance_scale``): a vocoder fine-tuned against the recordings on
    post-filtered mels learns to undo the post-filter."""
    model, symbols, where = acoustic_model(acoustic, registry, config)
    if not hasattr(model, "run_teacher_forced"):
        raise AutovoiceError(f"{where}: model cannot predict teacher-forced mels")
    spec = registry.get("dataset", "voice")
    if spec.options_type is None:
        raise AutovoiceError(f"dataset {spec.name!r} has no options to read whole utterances")
    # whole utterances (no audio segment) with their pitch, for teacher forcing
    dataset = spec.create(spec.options_type(segment_size=0, pitch=True), config=config)
    if dict(dataset.info.symbols) != symbols:
        raise AutovoiceError(
            f"{where}: the acoustic model's symbol table differs from this corpus'"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pad = math.log(config.audio.log_clamp)
    model.eval()
    for start in range(0, len(dataset), batch_size):
        items = [dataset.item(i, 0) for i in range(start, min(start + batch_size, len(dataset)))]
        batch = {
            k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
            for k, v in collate(items, mel_pad=pad).items()
        }
        with torch.no_grad():  # the model's own mels, before any inference post-filter
            mels = model.run_teacher_forced(batch).mel.float().numpy()
        for item, mel in zip(items, mels, strict=True):
            _save(out / dataset.predicted_mel_name(item["id"]), mel[:, : item["mel"].shape[1]])
    return len(dataset)


def _same_options(registry: Registry, plugin: str, given: Any, saved: Any) -> bool:
    """Whether two option tables of model ``plugin`` say the same, defaults filled in."""
    from autovoice.config.structure import structure

    spec = registry.get("model", plugin)
    if spec.options_type is None:
        return True
    try:
        ours: Any = structure(dict(given or {}), spec.options_type, path="$.model.options")
        theirs: Any = structure(dict(saved or {}), spec.options_type, path="$.acoustic.options")
    except AutovoiceError:
        return False
    return bool(ours == theirs)


def write_acoustic_checkpoint(
    bundle: str | os.PathLike[str],
    config: Config,
    directory: str | os.PathLike[str],
    *,
    registry: Registry,
    step: int,
) -> Path:
    """Save the acoustic model of the voice ``bundle`` as training checkpoint ``step-<step>`` in
    ``directory`` (weights, ``config``, the bundle's symbols and speakers; no optimizer state),
    so that a voice whose training run is gone can be exported again with another vocoder, or
    warm-start a run. ``config`` must describe the bundle's model (its ``[model]`` options
    equal to the bundle's): a :class:`AutovoiceError` says when they differ."""
    import json

    from autovoice.bundle import MANIFEST
    from autovoice.config import unstructure
    from autovoice.training.checkpoints.manager import CheckpointManager

    root = Path(bundle)
    manifest = json.loads((root / MANIFEST).read_text())
    stage = manifest.get("acoustic") or {}
    if stage.get("plugin") != config.model.name or not _same_options(
        registry, config.model.name, unstructure(config.model.options), stage.get("options")
    ):
        raise AutovoiceError(
            f"{root}: the voice's acoustic model ({stage.get('plugin')}, its options) is not the "
            f"one the config's [model] describes ({config.model.name})"
        )
    model, symbols, _ = acoustic_model(root, registry, config)
    manager = CheckpointManager(directory, registry=registry)
    extra = {"speakers": list(manifest.get("speakers") or []), "stage": "acoustic"}
    record = manager.save(
        {"model": model}, None, None, epoch=0, step=step, metrics={}, config=config,
        extra_state=extra, symbols=symbols,
    )  # fmt: skip
    return Path(directory) / record.name
