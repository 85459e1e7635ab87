"""autovoice: train text-to-speech voices and serve them fast.

The public surface is listed in ``__all__``; everything else is an implementation detail.
Importing autovoice is cheap: no torch, no onnxruntime, no plugins loaded.
"""

from autovoice._lazy import lazy_export
from autovoice._version import __version__
from autovoice.errors import (
    AutovoiceError,
    BackendError,
    ConfigError,
    ConfigIssue,
    DuplicatePluginError,
    PluginError,
    PluginUnavailableError,
    StoreError,
    UnknownPluginError,
)
from autovoice.hookspecs import hookimpl
from autovoice.plugins import Registry, make_plugin_manager
from autovoice.specs import (
    BackendRequest,
    BackendSpec,
    DatasetSpec,
    ModelSpec,
    Requirement,
    StoreSpec,
    VocoderSpec,
)

_LAZY = {"VoiceInferenceEngine": "autovoice.inference"}


def __getattr__(name: str) -> object:
    """Heavier parts of the public API, imported on first use (``import autovoice`` stays cheap)."""
    return lazy_export(__name__, _LAZY, name)


__all__ = [
    "AutovoiceError",
    "BackendError",
    "BackendRequest",
    "BackendSpec",
    "ConfigError",
    "ConfigIssue",
    "DatasetSpec",
    "DuplicatePluginError",
    "ModelSpec",
    "PluginError",
    "PluginUnavailableError",
    "Registry",
    "Requirement",
    "StoreError",
    "StoreSpec",
    "UnknownPluginError",
    "VocoderSpec",
    "VoiceInferenceEngine",
    "__version__",
    "hookimpl",
    "make_plugin_manager",
]
