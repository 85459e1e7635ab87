"""Built-in acoustic models and vocoders: VoiceTransformer, VoiceConverter, HiFi-GAN, the
learned-magnitude Griffin-Lim vocoder and the iSTFT vocoder.

Importing this module is cheap: the specs live in small modules without torch; the models are
imported by the trainer and exporter through each spec's factory.
"""

from __future__ import annotations

from autovoice.hookspecs import hookimpl
from autovoice.specs import ModelSpec, VocoderSpec


@hookimpl
def autovoice_models() -> list[ModelSpec]:
    from autovoice_models.voice_converter.spec import SPEC as CONVERTER
    from autovoice_models.voice_transformer.spec import SPEC

    return [SPEC, CONVERTER]


@hookimpl
def autovoice_vocoders() -> list[VocoderSpec]:
    from autovoice_models.hifigan.spec import SPEC
    from autovoice_models.istft.spec import SPEC as ISTFT
    from autovoice_models.magnitude_gl.spec import SPEC as MAGNITUDE_GL

    return [SPEC, MAGNITUDE_GL, ISTFT]
