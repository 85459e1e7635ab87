"""The design document's model classes (torch): ``autovoice.models.transformer.VoiceTransformer``
and ``autovoice.models.hifigan.HiFiGAN``, the built-in model plugins' networks with the
document's methods (``forward_for_training``, ``prepare_for_export``, ``export_to_onnx``).

This package is the documented door to the built-in ``voice_transformer`` and ``hifigan``
plugins' classes; the rest of the core reaches plugins through the registry and never imports
it. Importing the package alone imports no torch; its modules do. See ``docs/api.md``.
"""
