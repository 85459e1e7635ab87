"""The design document's model classes (torch): ``autovoice.models.transformer.VoiceTransformer``
and ``autovoice.models.hifigan.HiFiGAN``, the built-in model plugins' networks with the
document's methods (``forward_for_training``, ``prepare_for_export``, ``export_to_onnx``).

Each class is made on first use from the network class its plugin's spec names
(:attr:`autovoice.specs.ModelSpec.module_class`), found through the registry like any plugin's;
the rest of the core never imports this package. Importing the package alone imports no torch;
its modules do, and neither imports a plugin until its class is asked for. See ``docs/api.md``.
"""

from __future__ import annotations

from typing import Any

from autovoice.errors import PluginError, PluginUnavailableError


def plugin_class(kind: str, name: str, field: str = "module_class") -> Any:
    """The class that the ``kind`` plugin ``name``'s spec names in ``field`` (``module_class``
    or ``export_class``), imported; says what to install when the plugin cannot run here."""
    from autovoice.plugins import Registry
    from autovoice.specs import import_object

    spec = Registry.discover().get(kind, name)
    path = getattr(spec, field, None)
    if path is None:
        raise PluginError(f"{kind} {name!r} names no {field.replace('_', ' ')} in its spec")
    status = spec.availability()
    if not status.available:
        raise PluginUnavailableError(f"{kind} {name!r} is {status}")
    return import_object(path)
