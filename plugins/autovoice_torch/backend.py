"""The pytorch backend: a stage rebuilt through its plugin, weights loaded, run eagerly.

A voice bundle stores each stage's export module as a state dict (``acoustic.safetensors``) and
the plugin name and options that built it. :meth:`TorchBackend.load` builds the plugin's recipe
with those options and the voice's audio settings, takes its ``export_module()`` and loads the
weights into it. A training checkpoint (a ``step-N/`` directory or its ``model.safetensors``)
loads into the recipe's training modules first. This module imports torch;
:mod:`autovoice_torch` (the plugin entry) does not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from autovoice.bundle import STAGE_KINDS
from autovoice.config.schema import TrainingConfig
from autovoice.config.structure import structure
from autovoice.errors import AutovoiceError, BackendError
from autovoice.inference.checks import threads
from autovoice.signature import GraphSignature, SignatureError, check_graph
from autovoice.training.recipe import RecipeInputs
from autovoice_torch.options import TorchOptions

__all__ = ["TorchBackend", "TorchSession", "build_stage_module", "torch_device"]

CHECKPOINT_WEIGHTS = "model.safetensors"
_NEEDS = ("name", "plugin", "options", "signature", "audio", "n_symbols", "n_speakers")


def torch_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a torch device, checked to be usable here."""
    kind, _, index = str(device).partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise BackendError(
            f"pytorch backend: unknown device {device!r}; devices: cpu, cuda, cuda:N"
        )
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise BackendError(
                f"pytorch backend: device {device!r}: CUDA is not available to torch "
                f"{torch.__version__} (no GPU, or a CPU-only build of PyTorch)"
            )
        if index and int(index) >= torch.cuda.device_count():
            raise BackendError(
                f"pytorch backend: device {device!r}: there are "
                f"{torch.cuda.device_count()} CUDA devices"
            )
    return torch.device(device)


def _check_stage(stage: Any) -> None:
    missing = [name for name in _NEEDS if not hasattr(stage, name)]
    if stage is None or missing:
        raise BackendError(
            "pytorch backend: load() needs stage=... describing the stage to rebuild (its "
            "plugin, options, signature, audio settings, symbol and speaker counts, as "
            "autovoice.inference.StageContext holds them)"
            + (f"; missing {', '.join(missing)}" if stage is not None else "")
        )


def _plugin_spec(stage: Any) -> Any:
    if hasattr(stage, "plugin_spec"):
        return stage.plugin_spec()
    from autovoice.plugins import Registry

    return Registry.discover().get(STAGE_KINDS[stage.name], stage.plugin)


def _recipe(stage: Any) -> Any:
    """The stage plugin's recipe, built with the voice's options and sizes (global RNG kept)."""
    spec = _plugin_spec(stage)
    options = None
    if spec.options_type is not None:
        where = f"$.{stage.name}.options"
        options = structure(dict(stage.options), spec.options_type, path=where)
    with torch.random.fork_rng(devices=[]):
        inputs = RecipeInputs(
            audio=stage.audio,
            n_symbols=stage.n_symbols,
            n_speakers=stage.n_speakers,
            training=TrainingConfig(),
        )
        return spec.create(options, **inputs)


def _weights_file(path: Path) -> tuple[Path, bool]:
    """The safetensors file of ``path`` and whether it is a training checkpoint's."""
    if path.is_dir():
        path = path / CHECKPOINT_WEIGHTS
    if not path.is_file():
        raise BackendError(f"{path}: no such weights file")
    try:
        with safe_open(os.fspath(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise BackendError(f"{path}: not a safetensors file: {exc}") from exc
    return path, "modules" in metadata


def _load_strict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BackendError(f"{where}: the weights do not fit the rebuilt module: {exc}") from exc


def _checkpoint_modules(recipe: Any, path: Path) -> None:
    """Load a checkpoint's ``NAME/KEY`` tensors into the recipe's modules of those names."""
    saved: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in load_file(os.fspath(path)).items():
        name, _, rest = key.partition("/")
        saved.setdefault(name, {})[rest] = tensor
    if set(saved) != set(recipe.modules):
        raise BackendError(
            f"{path}: holds modules {sorted(saved)}; the stage's plugin builds "
            f"{sorted(recipe.modules)}: a checkpoint of another stage or plugin?"
        )
    for name, module in recipe.modules.items():
        _load_strict(module, saved[name], f"{path} (module {name!r})")


def _check_signature(stage: Any, recipe: Any, path: Path) -> None:
    """Hold the signature the voice declares to the one its plugin's module has: the module
    takes the declared inputs first, in order (later ones have defaults, for a voice exported
    before them), and gives every declared output, of the declared dtypes and sizes."""
    declared: GraphSignature = stage.signature
    actual: GraphSignature | None = getattr(recipe, "signature", None)
    if actual is None:
        return
    count = len(declared.inputs)
    if actual.input_names[:count] != declared.input_names:
        raise SignatureError(
            f"{path}: the {stage.name} module of plugin {stage.plugin!r} takes "
            f"{actual.input_names}, declared {declared.input_names}"
        )
    check_graph(declared, actual.inputs[:count], actual.outputs, str(path))


def build_stage_module(stage: Any, artifact: str | os.PathLike[str]) -> torch.nn.Module:
    """The stage's export module (eval mode, on the CPU) with the weights of ``artifact``: a
    bundle's ``*.safetensors`` or a training checkpoint."""
    _check_stage(stage)
    path, is_checkpoint = _weights_file(Path(artifact))
    try:
        recipe = _recipe(stage)
    except AutovoiceError as exc:
        raise BackendError(f"{path}: cannot rebuild the {stage.name} stage: {exc}") from exc
    _check_signature(stage, recipe, path)
    if is_checkpoint:
        _checkpoint_modules(recipe, path)
        return recipe.export_module().eval()  # type: ignore[no-any-return]
    module = recipe.export_module().eval()
    _load_strict(module, load_file(os.fspath(path)), str(path))
    return module  # type: ignore[no-any-return]


class TorchBackend:
    """Runs voice stages eagerly in PyTorch. ``options`` apply to every stage it loads."""

    name = "pytorch"

    def __init__(self, options: TorchOptions | None = None) -> None:
        self.options = options if options is not None else TorchOptions()

    def load(
        self, artifact: str | os.PathLike[str], device: str = "cpu", *, stage: Any = None, **_: Any
    ) -> TorchSession:
        """The stage ``stage`` describes, with the weights of ``artifact``, on ``device``
        (``cpu``, ``cuda`` or ``cuda:N``)."""
        try:
            threads(self.options.threads, "pytorch option threads")
        except AutovoiceError as exc:
            raise BackendError(str(exc)) from None
        where = torch_device(device)
        _check_stage(stage)
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        module = build_stage_module(stage, artifact).to(where)
        return TorchSession(module, signature=stage.signature, device=where, path=str(artifact))


class TorchSession:
    """A stage module on a device: numpy in, numpy out, run under ``torch.inference_mode``."""

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        signature: GraphSignature,
        device: torch.device,
        path: str,
    ) -> None:
        self.module = module
        self.signature = signature
        self.device = device
        self.path = path

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.signature.input_names)

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(self.signature.output_names)

    def __repr__(self) -> str:
        return f"TorchSession({self.path!r}, device={str(self.device)!r})"

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output of the signature by name, for every input of it by name. A module that
        names its outputs (``output_names``) may return more than the signature lists, as a
        newer plugin does for a voice exported before those outputs: the listed ones are kept."""
        tensors = self._tensors(inputs)
        try:
            with torch.inference_mode():
                result = self.module(*tensors)
        except RuntimeError as exc:
            raise BackendError(f"{self.path}: PyTorch failed to run the stage: {exc}") from exc
        values = result if isinstance(result, (tuple, list)) else (result,)
        named = getattr(self.module, "output_names", None)
        if named is not None and len(named) == len(values):  # the voice's outputs, by name
            by_name = dict(zip(named, values, strict=True))
            values = [by_name[n] for n in self.outputs if n in by_name]
        if len(values) != len(self.signature.outputs):
            raise BackendError(
                f"{self.path}: the module returned {len(values)} outputs; the signature has "
                f"{len(self.signature.outputs)} ({', '.join(self.outputs)})"
            )
        return {
            spec.name: value.detach().to("cpu").numpy().astype(spec.dtype, copy=False)
            for spec, value in zip(self.signature.outputs, values, strict=True)
        }

    def _tensors(self, inputs: Mapping[str, np.ndarray]) -> list[torch.Tensor]:
        arrays = self.signature.check_inputs(inputs, self.path)
        return [torch.from_numpy(array).to(self.device) for array in arrays.values()]
