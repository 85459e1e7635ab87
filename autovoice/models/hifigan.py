"""``HiFiGAN``: the ``hifigan`` plugin's generator (log-mel → waveform) with the design
document's methods.

It is a subclass of the network class the ``hifigan`` vocoder spec names (same flat keyword
constructor and weights; ``prepare_for_export`` folds weight normalization in place and the
model still exports afterwards), plus :meth:`HiFiGAN.export_to_onnx`
(:class:`autovoice.models._onnx.OnnxExport`). The class is made on first use
(:func:`autovoice.models.plugin_class`), so importing this module imports no plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autovoice._lazy import made_once
from autovoice.export.validate import ValidationCase, ValidationLengths, vocoder_cases
from autovoice.models import plugin_class
from autovoice.models._onnx import TRACED, OnnxExport
from autovoice.signature import GraphSignature, vocoder_signature

__all__ = ["HiFiGAN"]

if TYPE_CHECKING:
    HiFiGAN: type  # made on first use by __getattr__


def _make() -> type:
    generator: Any = plugin_class("vocoder", "hifigan")

    class HiFiGAN(OnnxExport, generator):  # type: ignore[misc]
        """The HiFi-GAN generator; see the ``hifigan`` plugin's presets for the sizes."""

        def onnx_parts(self) -> tuple[Any, GraphSignature, list[ValidationCase]]:
            """``mel (batch, n_mels, frames) -> audio (batch, samples)``, batch and time axes
            dynamic, from ``folded_copy()`` (weight norm folded; this model is left as it
            is)."""
            n_mels = int(self.hparams["n_mels"])
            lengths = ValidationLengths(frames=(16, 64, 128), batch_sizes=(TRACED, 1))
            cases = vocoder_cases(n_mels=n_mels, lengths=lengths)
            return self.folded_copy(), vocoder_signature(n_mels), cases

    return HiFiGAN


def __getattr__(name: str) -> Any:
    return made_once(globals(), name, "HiFiGAN", _make)
