"""VoiceTransformer: a non-autoregressive text-to-mel transformer that learns its own alignment.

Importing this package is cheap (no torch); the model lives in :mod:`.model`, the trainer's
recipe in :mod:`.recipe`, and the spec the plugin hook returns in :mod:`.spec`.
"""

from __future__ import annotations

from autovoice_models.voice_transformer.spec import (
    PRESETS,
    SPEC,
    VoiceTransformerOptions,
    model_kwargs,
)

__all__ = ["PRESETS", "SPEC", "VoiceTransformerOptions", "model_kwargs"]
