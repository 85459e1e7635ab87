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


def predict_mels(
    config: Config,
    acoustic: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    registry: Registry,
    batch_size: int = 8,
) -> int:
    """Write the teacher-forced mel of every utterance of ``config``'s corpus, predicted by the
    acoustic checkpoint ``acoustic``, into ``out_dir``; returns how many were written."""
    from autovoice.export.bundle_writer import load_stage
    from autovoice_datasets.options import VoiceOptions  # type: ignore[import-untyped]
    from autovoice_datasets.voice import predicted_mel_name  # type: ignore[import-untyped]

    source = load_stage(acoustic, "acoustic", registry)
    model: Any = source.recipe.modules["model"]
    if not hasattr(model, "run_teacher_forced"):
        raise AutovoiceError(f"{source.ref.location}: model cannot predict teacher-forced mels")
    dataset = registry.get("dataset", "voice").create(
        VoiceOptions(segment_size=0, pitch=True), config=config
    )
    if dict(dataset.info.symbols) != dict(source.symbols):
        raise AutovoiceError(
            f"{source.ref.location}: the acoustic model's symbol table differs from this corpus'"
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
        with torch.no_grad():
            mels = model.run_teacher_forced(batch).mel.float().numpy()
        for item, mel in zip(items, mels, strict=True):
            _save(out / predicted_mel_name(item["id"]), mel[:, : item["mel"].shape[1]])
    return len(dataset)
