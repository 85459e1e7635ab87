"""Synthesis (and voice conversion): a voice bundle's stages, each on a backend plugin, behind
one engine.

Torch-free: importing this package, or synthesizing or converting through ONNX Runtime or
TensorRT, never imports torch; only the ``pytorch`` backend does, when a stage is loaded on it.
"""

from autovoice.inference.checks import InferenceError
from autovoice.inference.engine import SynthesisTiming, VoiceInferenceEngine, open_voice
from autovoice.inference.sentences import join_with_pauses, split_sentences
from autovoice.inference.stages import (
    DEFAULT_PREFER,
    BackendFallbackWarning,
    DeviceFallbackWarning,
    StageContext,
    StageRunner,
    open_stage,
)
from autovoice.inference.timing import PhonemeTiming, SpeechChunk, TimedSpeech, WordTiming

__all__ = [
    "DEFAULT_PREFER",
    "BackendFallbackWarning",
    "DeviceFallbackWarning",
    "InferenceError",
    "PhonemeTiming",
    "SpeechChunk",
    "StageContext",
    "StageRunner",
    "SynthesisTiming",
    "TimedSpeech",
    "VoiceInferenceEngine",
    "WordTiming",
    "join_with_pauses",
    "open_stage",
    "open_voice",
    "split_sentences",
]
