"""``HiFiGAN``: the ``hifigan`` plugin's generator (log-mel → waveform) with the design
document's methods.

It is the plugin's :class:`autovoice_models.hifigan.generator.Generator` (same flat keyword
constructor and weights; :meth:`~autovoice_models.hifigan.generator.Generator.prepare_for_export`
folds weight normalization in place and the model still exports afterwards), plus
:meth:`HiFiGAN.export_to_onnx` (:class:`autovoice.models._onnx.OnnxExport`).
"""

from __future__ import annotations

from typing import Any

from autovoice.export.validate import ValidationCase, ValidationLengths, vocoder_cases
from autovoice.models._onnx import TRACED, OnnxExport
from autovoice.signature import GraphSignature, vocoder_signature
from autovoice_models.hifigan.generator import Generator  # type: ignore[import-untyped]

__all__ = ["HiFiGAN"]


class HiFiGAN(OnnxExport, Generator):  # type: ignore[misc]
    """The HiFi-GAN generator; see :mod:`autovoice_models.hifigan.presets` for the sizes."""

    def onnx_parts(self) -> tuple[Any, GraphSignature, list[ValidationCase]]:
        """``mel (batch, n_mels, frames) -> audio (batch, samples)``, batch and time axes
        dynamic, from :meth:`folded_copy` (weight norm folded; this model is left as it is)."""
        n_mels = int(self.hparams["n_mels"])
        lengths = ValidationLengths(frames=(16, 64, 128), batch_sizes=(TRACED, 1))
        cases = vocoder_cases(n_mels=n_mels, lengths=lengths)
        return self.folded_copy(), vocoder_signature(n_mels), cases
