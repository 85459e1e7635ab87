"""``VoiceTransformer``: the ``voice_transformer`` plugin's acoustic model (text → log-mel) with
the design document's methods.

It is a subclass of the network class the ``voice_transformer`` model spec names (same flat
keyword constructor, weights and training pass), plus ``export_to_onnx(path, *, opset,
validate, tolerance)`` (:class:`autovoice.models._onnx.OnnxExport`) and a
``forward_for_training`` that takes the document's ``(mel_spec, speaker_id)``. The class is made
on first use (:func:`autovoice.models.plugin_class`), so importing this module imports no plugin.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from autovoice._lazy import made_once
from autovoice.errors import AutovoiceError
from autovoice.export.validate import ValidationCase, ValidationLengths, acoustic_cases
from autovoice.models import plugin_class
from autovoice.models._onnx import TRACED, OnnxExport
from autovoice.signature import GraphSignature, acoustic_signature

__all__ = ["ModelInputError", "VoiceTransformer"]

if TYPE_CHECKING:
    VoiceTransformer: type  # made on first use by __getattr__

BATCH_KEYS = ("tokens", "token_lengths", "mels", "mel_lengths", "speakers", "pitch")
"""What a training batch holds for this model (``create_dataloaders`` makes them)."""


class ModelInputError(AutovoiceError):
    """A model was given something it cannot take; names the argument."""


def _make() -> type:
    network: Any = plugin_class("model", "voice_transformer")

    class VoiceTransformer(OnnxExport, network):  # type: ignore[misc]
        """The acoustic model: tokens and speaker → log-mel, learning its own alignment."""

        def forward_for_training(
            self, mel_spec: Mapping[str, torch.Tensor], speaker_id: Any = None
        ) -> dict[str, torch.Tensor]:
            """The losses of one training batch: ``loss`` (the total the trainer minimizes) and
            its parts ``mel_loss``, ``duration_loss``, ``pitch_loss``, ``energy_loss``,
            ``forward_sum_loss`` and ``bin_loss``, each a scalar tensor.

            ``mel_spec`` is the whole batch, a mapping with :data:`BATCH_KEYS` (the log-mels
            under ``mels``): a text-to-mel model learns from the text and the mel together, so
            a mel alone is refused. ``speaker_id`` (an int, or a tensor with one id per item), when
            given, replaces the batch's ``speakers``."""
            if not isinstance(mel_spec, Mapping):
                raise ModelInputError(
                    "forward_for_training: mel_spec must be the batch mapping (tokens, "
                    "token_lengths, mels, mel_lengths, speakers, pitch), got "
                    f"{type(mel_spec).__name__}"
                )
            missing = [key for key in BATCH_KEYS if key not in mel_spec and key != "speakers"]
            if missing:
                raise ModelInputError(f"forward_for_training: mel_spec lacks {', '.join(missing)}")
            batch = dict(mel_spec)
            if speaker_id is not None:
                batch["speakers"] = _speakers(speaker_id, batch["tokens"])
            elif "speakers" not in batch:
                raise ModelInputError("forward_for_training: give speaker_id or batch 'speakers'")
            losses: dict[str, torch.Tensor] = super().forward_for_training(batch)
            return losses

        def onnx_parts(self) -> tuple[Any, GraphSignature, list[ValidationCase]]:
            """The inference graph, ``tokens, token_lengths, speakers, pace, pitch_shift,
            energy_scale -> mel, mel_lengths, durations`` (the acoustic signature; batch, token
            and frame axes dynamic), of a copy of this model."""
            n_symbols = int(self.embedding.num_embeddings)
            n_speakers = int(self.speaker_embedding.num_embeddings)
            lengths = ValidationLengths(tokens=(8, 32, 96), batch_sizes=(TRACED, 1))
            cases = acoustic_cases(n_symbols=n_symbols, n_speakers=n_speakers, lengths=lengths)
            wrapper = plugin_class("model", "voice_transformer", "export_class")
            module = wrapper(copy.deepcopy(self)).eval()
            return module, acoustic_signature(int(self.n_mels)), cases

    return VoiceTransformer


def __getattr__(name: str) -> Any:
    return made_once(globals(), name, "VoiceTransformer", _make)


def _speakers(speaker_id: Any, tokens: torch.Tensor) -> torch.Tensor:
    """``speaker_id`` as one int64 id per item of the batch."""
    size = tokens.shape[0]
    if isinstance(speaker_id, int) and not isinstance(speaker_id, bool) and speaker_id >= 0:
        return torch.full((size,), speaker_id, dtype=torch.int64, device=tokens.device)
    if isinstance(speaker_id, torch.Tensor) and speaker_id.shape in ((size,), ()):
        return speaker_id.to(tokens.device, torch.int64).expand(size)
    raise ModelInputError(
        f"forward_for_training: speaker_id must be an int >= 0 or a tensor of {size} ids, "
        f"got {speaker_id!r}"
    )
