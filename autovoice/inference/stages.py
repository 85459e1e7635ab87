"""One pipeline stage (acoustic, converter or vocoder) on a backend: choosing, loading, running it.

A stage asks for a backend by name, by an ordered list of names, or ``"auto"``:

- a name: that backend, or an error saying why it cannot be used;
- a list (``["tensorrt", "onnxruntime"]`` or ``"tensorrt,onnxruntime"``): the first that can be
  used; falling back past the first one warns with a :class:`BackendFallbackWarning` that says
  why;
- ``"auto"``: the registry's policy (:meth:`Registry.select_backend`) picks among the backends
  usable here that accept an artifact the voice has, then the rest in ranked order if the pick
  fails to load; backends that cannot run here are skipped silently (why is kept in
  :attr:`StageRunner.skipped`). With an explicit ``prefer`` order, the preferred backends are
  tried first, in that order (one not installed counts as unusable), and serving the stage
  with anything but the first warns as a list does.

Torch-free: backends are loaded through their specs, which import heavy libraries lazily.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from autovoice._policy import rank_backends
from autovoice.bundle import STAGE_KINDS
from autovoice.config.schema import AudioConfig
from autovoice.errors import AutovoiceError, BackendError, PluginError, UnknownPluginError
from autovoice.plugins import Registry
from autovoice.signature import GraphSignature, SignatureError, check_graph
from autovoice.specs import DEFAULT_PREFER, BackendRequest, BackendSpec, PluginSpec

__all__ = [
    "DEFAULT_PREFER",
    "STAGE_KINDS",
    "BackendFallbackWarning",
    "DeviceFallbackWarning",
    "StageContext",
    "StageRunner",
    "backend_order",
    "gpu_present",
    "open_stage",
    "usable_device",
]

OptionsFor = Callable[[BackendSpec], Any]


class BackendFallbackWarning(UserWarning):
    """A stage runs on a later backend of its list because an earlier one cannot be used."""


class DeviceFallbackWarning(UserWarning):
    """The stages run on the CPU because the device asked for is not on this machine."""


@attrs.frozen(kw_only=True)
class StageContext:
    """What a backend may need besides the artifact to load one stage of a voice: the plugin
    that made it and that plugin's options (to rebuild the module from weights), the graph
    signature, and the voice's audio settings, symbol and speaker counts. ``name``, ``plugin``,
    ``options`` and ``signature`` read as those of :class:`autovoice.bundle.StageInfo`."""

    name: str = attrs.field(validator=attrs.validators.in_(tuple(STAGE_KINDS)))
    """``acoustic``, ``converter`` or ``vocoder``."""
    plugin: str
    options: Mapping[str, Any] = attrs.field(factory=dict)
    signature: GraphSignature
    audio: AudioConfig = attrs.field(factory=AudioConfig)
    n_symbols: int = 0
    n_speakers: int = 1
    engines: tuple[Any, ...] = ()
    """The voice's prebuilt engines for this stage (:class:`autovoice.bundle.EngineInfo`)."""
    registry: Registry | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def kind(self) -> str:
        """``model`` or ``vocoder``: the plugin kind of :attr:`plugin`."""
        return STAGE_KINDS[self.name]

    def plugin_spec(self) -> PluginSpec:
        """The spec of the plugin that made the stage, from the engine's registry."""
        registry = self.registry if self.registry is not None else Registry.discover()
        return registry.get(self.kind, self.plugin)


class StageRunner:
    """A stage loaded on a backend. ``run`` is serialized by a lock, so one runner may be
    shared by threads whatever its backend's own thread-safety.

    ``check_inputs`` False leaves the inputs to the session: a head stage's session is a graph
    runner that checks them itself, or a head with no graph, whose own check names its input."""

    def __init__(
        self,
        context: StageContext,
        session: Any,
        *,
        backend: str,
        artifact: str,
        device: str,
        skipped: Sequence[str] = (),
        check_inputs: bool = True,
    ) -> None:
        self.context = context
        self.check_inputs = check_inputs
        self.session = session
        self.backend = backend
        self.artifact = artifact
        self.device = device
        self.skipped = tuple(skipped)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StageRunner({self.context.name!r}, backend={self.backend!r}, {self.artifact})"

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The session's outputs for ``inputs``: the signature's inputs, checked against it
        (names, dtypes, ranks and fixed sizes) before any backend sees them; every output of
        the signature must be there."""
        feed = (
            self.context.signature.check_inputs(inputs, f"{self.context.name} stage")
            if self.check_inputs
            else inputs
        )
        with self._lock:
            outputs = self.session.run(feed)
        missing = [n for n in self.context.signature.output_names if n not in outputs]
        if missing:
            raise BackendError(
                f"{self.context.name} stage: backend {self.backend!r} returned no "
                f"{', '.join(repr(n) for n in missing)} (it returned {sorted(outputs)})"
            )
        return {name: np.asarray(outputs[name]) for name in self.context.signature.output_names}


def gpu_present() -> bool:
    """Whether an NVIDIA GPU is visible to this process (a device node, not hidden by
    ``CUDA_VISIBLE_DEVICES``); checked without importing any GPU library."""
    return not _gpu_hidden() and _nvidia_nodes()


def _nvidia_nodes() -> bool:
    return any(Path("/dev").glob("nvidia[0-9]*"))


def _gpu_hidden() -> bool:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible is not None and visible.strip() in ("", "-1")


def usable_device(device: str) -> str:
    """``device``, or ``"cpu"`` with one :class:`DeviceFallbackWarning` when it names CUDA and
    no GPU can be there: ``CUDA_VISIBLE_DEVICES`` hides them all, or there is no GPU device
    node (``/dev/nvidia*``, nor WSL's ``/dev/dxg``). One warning for the whole voice, where
    each stage's backend would otherwise warn on its own."""
    if device.partition(":")[0] != "cuda":
        return device
    nodes = _nvidia_nodes() or Path("/dev/dxg").exists()
    if nodes and not _gpu_hidden():
        return device
    why = "CUDA_VISIBLE_DEVICES hides every GPU" if _gpu_hidden() else "this machine has no GPU"
    warnings.warn(
        f"device {device!r} asked for, but {why}: running on the CPU", DeviceFallbackWarning,
        stacklevel=3,
    )  # fmt: skip
    return "cpu"


def backend_order(backend: str | Sequence[str]) -> tuple[str, ...]:
    """``"auto"``, ``"name"``, ``"a,b"`` or a sequence of names as a tuple of names."""
    names = backend.split(",") if isinstance(backend, str) else list(backend)
    order = tuple(str(name).strip() for name in names if str(name).strip())
    if not order:
        raise BackendError(f"no backend named in {backend!r}; give a backend name or 'auto'")
    if "auto" in order and len(order) > 1:
        raise BackendError(f"'auto' cannot be part of a list of backends: {backend!r}")
    return order


def _device_for(spec: BackendSpec, device: str) -> str | None:
    """The device ``spec`` should run on for the requested ``device``, None when it cannot."""
    if device == "auto":
        return "cuda" if "cuda" in spec.devices and gpu_present() else "cpu"
    return device if device.partition(":")[0] in spec.devices else None


def _load(
    spec: BackendSpec,
    context: StageContext,
    artifacts: Mapping[str, Path],
    device: str,
    options_for: OptionsFor,
) -> StageRunner:
    """``spec``'s backend with the stage loaded, or a :class:`BackendError` saying why not.

    The backend is offered the artifacts it accepts in the order of its ``accepts`` (its
    preference: a prebuilt ``engine`` before the ``onnx`` it was built from), the next one when
    an artifact fails to load (an engine built for another GPU)."""
    status = spec.availability()
    if not status.available:
        raise BackendError(str(status))
    kinds = [a for a in spec.accepts if a in artifacts]
    if not kinds:
        raise BackendError(
            f"it runs {', '.join(spec.accepts)} and the voice has {', '.join(artifacts) or 'none'}"
        )
    where = _device_for(spec, device)
    if where is None:
        raise BackendError(f"it runs on {', '.join(spec.devices)}, not on {device}")
    failed: list[str] = []
    for kind in kinds:
        try:
            session = _open_artifact(spec, options_for, artifacts[kind], where, context)
        except BackendError as exc:
            failed.append(f"{kind}: {exc}" if len(kinds) > 1 else str(exc))
            continue
        check_session(session, context.signature, artifacts[kind])
        return StageRunner(context, session, backend=spec.name, artifact=kind, device=where)
    raise BackendError("; ".join(failed))


def _open_artifact(
    spec: BackendSpec, options_for: OptionsFor, artifact: Path, device: str, context: StageContext
) -> Any:
    """The session of ``artifact`` on ``spec``'s backend; any failure (bad options too) as a
    :class:`BackendError` saying why."""
    try:
        return spec.create(options_for(spec)).load(artifact, device, stage=context)
    except SignatureError:  # the voice contradicts itself: no backend can serve it
        raise
    except AutovoiceError as exc:
        raise BackendError(str(exc)) from exc
    except Exception as exc:  # a backend that crashes while loading is one that cannot serve
        raise BackendError(f"{type(exc).__name__}: {exc}") from exc


def _described(tensors: object) -> bool:
    """Whether a session describes its tensors (each with a name, a dtype and a shape)."""
    return isinstance(tensors, (tuple, list)) and all(
        hasattr(t, "name") and hasattr(t, "dtype") and hasattr(t, "shape") for t in tensors
    )


def check_session(session: Any, signature: GraphSignature, artifact: Path) -> None:
    """Hold the graph a backend opened to the stage's declared ``signature``: every backend's
    session passes here. A session that describes its ``inputs`` and ``outputs`` (ONNX Runtime
    and TensorRT sessions do) must take the declared inputs and give the declared outputs, of
    the declared dtypes, ranks and fixed sizes; a :class:`SignatureError` names the file and
    each difference. One that describes neither (the pytorch backend's module checks itself
    against its plugin's signature) passes."""
    inputs, outputs = getattr(session, "inputs", None), getattr(session, "outputs", None)
    if _described(inputs) and _described(outputs):
        check_graph(signature, inputs, outputs, str(artifact))


def _candidates(
    registry: Registry, order: tuple[str, ...], request: BackendRequest, explicit: bool
) -> tuple[list[str], list[str]]:
    """Backend names to try in order, and why the others were left out (for ``auto``)."""
    if order != ("auto",):
        for name in order:
            registry.get("backend", name)  # an unknown name is an error, never a fallback
        return list(order), []
    usable: list[BackendSpec] = []
    skipped: dict[str, str] = {}
    for entry in registry.entries("backend"):
        status = entry.spec.availability()
        if status.available and isinstance(entry.spec, BackendSpec):
            usable.append(entry.spec)
        else:
            skipped[entry.spec.name] = f"{entry.spec.name} ({status})"
    try:
        first = [registry.select_backend(request).name]
    except PluginError as exc:
        if not explicit:
            raise BackendError(f"{request.stage} stage: {exc}") from exc
        first = []
    ranked = [*first, *(n for n in rank_backends(request, usable) if n not in first)]
    if explicit:  # the preferred ones that cannot run here are tried (and reported) too
        ranked = list(dict.fromkeys([*request.prefer, *ranked]))
    return ranked, [why for name, why in skipped.items() if name not in ranked]


def open_stage(
    context: StageContext,
    artifacts: Mapping[str, Path],
    *,
    registry: Registry,
    backend: str | Sequence[str] = "auto",
    prefer: Sequence[str] | None = None,
    device: str = "auto",
    options_for: OptionsFor = lambda spec: None,
) -> StageRunner:
    """The stage loaded on the first backend that can serve it (see the module docstring).

    ``artifacts`` maps artifact kinds (``onnx``, ``weights``, ``engine``) to files;
    ``options_for(spec)`` gives the options each backend is created with.
    """
    order = backend_order(backend)
    request = BackendRequest(
        stage=context.name,
        artifacts=tuple(artifacts),
        device=device.partition(":")[0],
        prefer=tuple(prefer) if prefer is not None else DEFAULT_PREFER,
    )
    names, skipped = _candidates(registry, order, request, explicit=prefer is not None)
    refused: list[str] = []
    for name in names:
        try:
            spec = registry.get("backend", name)
        except UnknownPluginError:  # only a preferred name can be unknown here
            refused.append(f"{name} (not installed)")
            continue
        if not isinstance(spec, BackendSpec):
            raise PluginError(f"backend {name!r} is registered with a {type(spec).__name__}")
        try:
            runner = _load(spec, context, artifacts, device, options_for)
        except BackendError as exc:
            refused.append(f"{name} ({exc})")
            continue
        if refused:  # only names the user ordered, or usable ones that failed, are refused
            _warn_fallback(context.name, refused, name)
        runner.skipped = (*skipped, *refused)
        return runner
    raise _no_backend(context.name, order, [*refused, *skipped])


def _warn_fallback(stage: str, refused: Sequence[str], chosen: str) -> None:
    warnings.warn(
        f"{stage} stage: falling back to backend {chosen!r}; cannot use " + "; ".join(refused),
        BackendFallbackWarning,
        stacklevel=4,
    )


def _no_backend(stage: str, order: tuple[str, ...], reasons: Sequence[str]) -> BackendError:
    if len(order) == 1 and order != ("auto",):
        return BackendError(f"{stage} stage: backend {reasons[0]} cannot be used")
    listing = "; ".join(reasons) if reasons else "no backend is installed"
    return BackendError(f"{stage} stage: no backend can serve it: {listing}")
