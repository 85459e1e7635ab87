"""VoiceConverter: a source mel and a target speaker id to the target speaker's mel.

Importing this package is cheap (no torch); the model lives in :mod:`.model`, the trainer's
recipe in :mod:`.recipe`, and the spec the plugin hook returns in :mod:`.spec`.
"""

from __future__ import annotations

from autovoice_models.voice_converter.spec import (
    PRESETS,
    SPEC,
    VoiceConverterOptions,
    converter_signature,
    model_kwargs,
)

__all__ = ["PRESETS", "SPEC", "VoiceConverterOptions", "converter_signature", "model_kwargs"]
