"""Plugin specs: cheap, frozen descriptors that hooks return.

A spec names a plugin, says what it needs installed, and points at a factory by import path
(``"package.module:attribute"``). Nothing heavy is imported until :meth:`PluginSpec.load` runs, so
listing plugins never imports torch, onnxruntime or tensorrt.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import attrs

from autovoice.errors import PluginError, PluginUnavailableError

_NAME = re.compile(r"^[a-z][a-z0-9_\-.]*$")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _check_name(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not _NAME.match(value):
        raise ValueError(
            f"plugin name must be lower-case letters, digits, '_', '-' or '.': {value!r}"
        )


def _check_factory(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not _FACTORY.match(value):
        raise ValueError(f"factory must look like 'package.module:attribute', got {value!r}")


def import_object(path: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the object it names."""
    module_name, _, attr_path = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


@attrs.frozen(kw_only=True)
class Requirement:
    """A module a plugin imports (``module``) and the distribution providing it (``package``;
    unset, the module's top-level name, as for ``torch`` or ``onnxruntime``)."""

    module: str
    package: str = attrs.field(
        default=attrs.Factory(lambda self: self.module.split(".")[0], takes_self=True)
    )

    def is_met(self) -> bool:
        """True when ``module`` can be imported; checked without importing it (nor, for a
        dotted name, its parent packages)."""
        top, *rest = self.module.split(".")
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return False
        if spec is None or not rest:
            return spec is not None
        places = list(spec.submodule_search_locations or ())
        for part in rest:
            found = [os.path.join(p, part) for p in places if os.path.isdir(os.path.join(p, part))]
            if not found:
                return any(
                    os.path.exists(os.path.join(p, part + ext))
                    for p in places
                    for ext in (".py", ".so", ".pyd", ".abi3.so")
                ) or any(
                    name.startswith(part + ".") and name.endswith((".so", ".pyd"))
                    for p in places
                    for name in os.listdir(p)
                )
            places = found
        return True


@attrs.frozen
class Availability:
    """Whether a plugin can be used here, and if not, why, in words a user can act on."""

    available: bool
    reason: str = ""

    def __str__(self) -> str:
        return "available" if self.available else f"unavailable: {self.reason}"


@attrs.frozen(kw_only=True)
class PluginSpec:
    """What every spec has. Subclasses set ``kind`` and add what their kind needs."""

    kind: ClassVar[str] = "plugin"

    name: str = attrs.field(validator=_check_name)
    factory: str = attrs.field(validator=_check_factory)
    description: str = ""
    requires: tuple[Requirement, ...] = ()
    extra: str | None = None
    """The autovoice extra that installs ``requires`` (``pip install 'autovoice[extra]'``)."""
    options_type: type | None = None
    """An attrs class for the plugin's option table; the config is structured against it."""
    probe: str | None = None
    """``"module:function"`` returning None when usable here, else a reason (no GPU, …).

    Only called when every requirement is met; it may import the plugin's heavy libraries."""

    def missing(self) -> tuple[Requirement, ...]:
        return tuple(req for req in self.requires if not req.is_met())

    def availability(self) -> Availability:
        missing = self.missing()
        if missing:
            return Availability(False, self._install_hint(missing))
        if self.probe is not None:
            try:
                reason = import_object(self.probe)()
            except Exception as exc:  # a probe that crashes means "not usable", with why
                reason = f"probe {self.probe} failed: {exc}"
            if reason:
                return Availability(False, str(reason))
        return Availability(True)

    def _install_hint(self, missing: tuple[Requirement, ...]) -> str:
        needs = ", ".join(req.package for req in missing)
        packages = " ".join(req.package for req in missing)
        how = f"pip install 'autovoice[{self.extra}]'" if self.extra else f"pip install {packages}"
        return f"needs {needs} ({how})"

    def load(self) -> Any:
        """Import and return the factory, or say what to install when requirements are missing."""
        status = self.availability()
        if not status.available:
            raise PluginUnavailableError(f"{self.kind} {self.name!r} is {status}")
        try:
            return import_object(self.factory)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"{self.kind} {self.name!r}: cannot import its factory {self.factory}: {exc}"
            ) from exc

    def create(self, options: Any = None, **kwargs: Any) -> Any:
        """Load the factory and call it as ``factory(options, **kwargs)``, with the plugin's
        options (an ``options_type`` instance, its defaults when None), or as
        ``factory(**kwargs)`` when the spec has no ``options_type``."""
        factory: Callable[..., Any] = self.load()
        if options is None and self.options_type is not None:
            options = self.options_type()
        return factory(options, **kwargs) if self.options_type is not None else factory(**kwargs)


@attrs.frozen(kw_only=True)
class DatasetSpec(PluginSpec):
    """A dataset kind (voice, paired, augmented, …): reads a corpus into utterance records."""

    kind: ClassVar[str] = "dataset"


@attrs.frozen(kw_only=True)
class ModelSpec(PluginSpec):
    """An acoustic model (text → mel, or mel → mel). Its factory returns the training
    :class:`autovoice.training.recipe.Recipe`: modules, steps, graph signature, export module."""

    kind: ClassVar[str] = "model"
    module_class: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_check_factory)
    )
    """``"module:Class"`` of the network the factory builds (flat keyword arguments), for
    callers that want the class itself (the design document's :mod:`autovoice.models`)."""
    export_class: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_check_factory)
    )
    """``"module:Class"`` wrapping a :attr:`module_class` network as its exported graph
    (called with the network); None when the network is exported as it is."""
    inference_options: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    """Names of options that change what the trained network computes at inference and none
    of its weights (a duration cap, a post-filter): ``autovoice export --set
    model.options.NAME=VALUE`` may set them on a trained checkpoint."""


@attrs.frozen(kw_only=True)
class VocoderSpec(PluginSpec):
    """A vocoder (mel → waveform): same contract as a model (its factory returns a ``Recipe``,
    built for the run's audio settings), plus the head that makes a waveform of its graph's
    output."""

    kind: ClassVar[str] = "vocoder"
    head: str = attrs.field(default="waveform", validator=_check_name)
    """The head (:data:`autovoice.heads.HEADS`) its exported graph needs unless its recipe
    names another: ``waveform`` (the graph outputs ``audio``), ``griffin_lim`` (``magnitude``),
    ``istft`` (``real`` and ``imag``)."""
    module_class: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_check_factory)
    )
    """``"module:Class"`` of the network the factory builds, as :attr:`ModelSpec.module_class`."""


@attrs.frozen(kw_only=True)
class StoreSpec(PluginSpec):
    """A checkpoint store, chosen by the URI scheme of the checkpoint location."""

    kind: ClassVar[str] = "store"
    schemes: tuple[str, ...] = attrs.field(default=(), validator=attrs.validators.min_len(1))


@attrs.frozen(kw_only=True)
class BackendSpec(PluginSpec):
    """An inference backend: which artifacts it runs (``onnx``, ``weights`` (a bundle's
    safetensors), ``checkpoint``, ``engine``) on which devices (``cpu``, ``cuda``)."""

    kind: ClassVar[str] = "backend"
    accepts: tuple[str, ...] = attrs.field(default=(), validator=attrs.validators.min_len(1))
    devices: tuple[str, ...] = ("cpu",)
    engine_builder: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_check_factory)
    )
    """``"module:attribute"`` of the backend's :class:`EngineBuilder`, which builds engines
    ahead of time (``export.tensorrt``, the design document's ``build_tensorrt_engines`` and
    ``TensorRTEngine.build_engine``); None for backends that build none."""

    def builder(self) -> EngineBuilder:
        """The :class:`EngineBuilder` this backend names, imported (cheaply: building imports
        the heavy libraries); a :class:`PluginError` when it builds no engines. Callers check
        :meth:`availability` before building."""
        if self.engine_builder is None:
            raise PluginError(f"backend {self.name!r} builds no engines ahead of time")
        try:
            builder: EngineBuilder = import_object(self.engine_builder)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"backend {self.name!r}: cannot import its engine builder "
                f"{self.engine_builder}: {exc}"
            ) from exc
        return builder


class EngineBuilder(Protocol):
    """What :attr:`BackendSpec.engine_builder` names: builds a backend's engines from ONNX."""

    def build_voice(
        self, config: Any, models_dir: Path, engines_dir: Path, *, fp16: bool
    ) -> list[dict[str, Any]]:
        """Build the engines of the voice whose graphs are in ``models_dir`` (a voice bundle's
        folder, or ``acoustic.onnx`` and ``vocoder.onnx``) with ``config.export``'s settings,
        into ``engines_dir``; one voice-bundle ``engines`` entry per engine (``stage``,
        ``file`` relative to ``engines_dir``, what it was built for)."""
        ...

    def build_graph(
        self,
        onnx_path: Path,
        *,
        fp16: bool,
        profiles: Sequence[Mapping[str, Sequence[Sequence[int]]]] | None,
        export: Any,
        hop_length: int | None,
        workspace: int,
    ) -> bytes:
        """The engine of one ONNX graph: one optimization profile per table of ``{input: (min,
        opt, max)}`` shapes in ``profiles``, else one from ``export``'s ranges (an
        :class:`~autovoice.config.ExportConfig`; its defaults when None)."""
        ...


DEFAULT_PREFER = ("tensorrt", "onnxruntime", "pytorch")
"""The order in which ``backend = "auto"`` prefers backends unless told otherwise (the
``inference.prefer`` default): prebuilt GPU engines, then ONNX Runtime, then PyTorch."""


@attrs.frozen(kw_only=True)
class BackendRequest:
    """What a pipeline stage asks of ``backend = "auto"``."""

    stage: str = "any"
    """``acoustic``, ``vocoder`` or ``any``."""
    artifacts: tuple[str, ...] = ("onnx", "weights", "checkpoint", "engine")
    """Artifact formats on hand for the stage (a bundle may lack engines or weights)."""
    device: str = "auto"
    """``cpu``, ``cuda`` or ``auto``."""
    prefer: tuple[str, ...] = DEFAULT_PREFER
    """Backend names in order of preference; backends not named come after, by name."""


SPEC_TYPES: dict[str, type[PluginSpec]] = {
    cls.kind: cls for cls in (DatasetSpec, ModelSpec, VocoderSpec, StoreSpec, BackendSpec)
}
