"""Voice bundles, the unit of deployment: read and verify one without torch.

A bundle is a directory (or a ``.tar`` of one) holding ``manifest.json``, ``acoustic.onnx``,
``vocoder.onnx``, the export modules' weights (``*.safetensors``) and optional TensorRT engines.
A voice conversion bundle holds ``converter.onnx`` (mel to mel) in place of the acoustic stage.
The manifest lists the audio and text settings, the symbol table, the speakers, each stage's
plugin, options and graph signature, the vocoder's head (:mod:`autovoice.heads`: what makes a
waveform of its graph's output) with the head's options, and the SHA-256 and size of every other
file. A vocoder whose head needs no graph (Griffin-Lim from the mel) has no files. See
``docs/export.md`` for the format.

The rooms: :mod:`~autovoice.bundle.records` (format constants, stage and engine records, the
error), :mod:`~autovoice.bundle.files` (locating, extracting, paths inside, checksums),
:mod:`~autovoice.bundle.reader` (the manifest read and checked field by field:
:class:`VoiceBundle`), :mod:`~autovoice.bundle.external` (which files a graph's external
weights may come from) and :mod:`~autovoice.bundle.writer` (the manifest the exporter
writes), side by side.
"""

from autovoice.bundle import records
from autovoice.bundle.files import (
    bundle_path,
    bundle_root,
    check_file,
    default_cache_dir,
    file_table,
    is_bundle,
    sha256_file,
)
from autovoice.bundle.reader import (
    DEFAULT_VOICE_NAME,
    VoiceBundle,
    default_voice_path,
    read_manifest,
)
from autovoice.bundle.records import *  # noqa: F403 (records.__all__, added to ours below)
from autovoice.bundle.writer import graphless_vocoder_entry, head_fields

__all__ = [
    "DEFAULT_VOICE_NAME",
    "VoiceBundle",
    "bundle_path",
    "bundle_root",
    "check_file",
    "default_cache_dir",
    "default_voice_path",
    "file_table",
    "graphless_vocoder_entry",
    "head_fields",
    "is_bundle",
    "read_manifest",
    "sha256_file",
]
__all__ += records.__all__
