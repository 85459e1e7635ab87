"""Turning models, optimizers and schedulers into checkpoint files and back.

``model.safetensors`` holds every tensor of every named module under ``NAME/KEY``;
``state.pt`` holds the rest (optimizers, schedulers, grad scaler, caller state, RNG states).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import torch

from autovoice.training import safe_load
from autovoice.training.checkpoints.records import (
    STATE_FILE,
    CheckpointCorruptError,
    CheckpointError,
    CheckpointWriteError,
    WeightsReport,
)

SEPARATOR = "/"
logger = logging.getLogger("autovoice.training.checkpoints.manager")


def named(value: Any, kind: str) -> dict[str, Any]:
    """``{name: object}`` from one object (named ``kind``), a mapping of them, or None."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return {kind: value}
    for name in value:
        if not isinstance(name, str) or not name or SEPARATOR in name:
            raise CheckpointError(
                f"{kind} names must be non-empty strings without '/', got {name!r}"
            )
    return dict(value)


def encode_weights(modules: Mapping[str, torch.nn.Module]) -> bytes:
    """The tensors of every module as safetensors bytes, keys ``NAME/KEY``."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(
                    f"save: {name}: state entry {key!r} is a {type(value).__name__}, not a "
                    "tensor; only tensors go into model.safetensors"
                )
            tensors[f"{name}{SEPARATOR}{key}"] = _unshared(value, seen)
    return bytes(save(tensors, metadata={"modules": json.dumps(list(modules))}))


def _unshared(tensor: torch.Tensor, seen: set[int]) -> torch.Tensor:
    """A contiguous CPU tensor that shares no memory with one already taken (tied weights)."""
    tensor = tensor.detach().to("cpu").contiguous()
    if tensor.numel() == 0:
        return tensor
    pointer = tensor.untyped_storage().data_ptr()
    if pointer in seen:
        return tensor.clone()
    seen.add(pointer)
    return tensor


def decode_weights(data: bytes, where: str) -> dict[str, dict[str, torch.Tensor]]:
    """``{module name: state dict}`` from safetensors bytes."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        flat = load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointCorruptError(f"{where} cannot be read: {exc}") from exc
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in flat.items():
        name, sep, rest = key.partition(SEPARATOR)
        if not sep:
            raise CheckpointCorruptError(f"{where}: tensor {key!r} names no module")
        modules.setdefault(name, {})[rest] = tensor
    return modules


def check_names(kind: str, saved: Mapping[str, Any], given: Mapping[str, Any], where: str) -> None:
    """Refuse a strict load whose objects are not the saved ones, by name."""
    if set(saved) != set(given):
        raise CheckpointError(
            f"{where} holds {kind} {sorted(saved)}, but {sorted(given)} were given to load into"
        )


def load_modules(
    modules: Mapping[str, torch.nn.Module],
    saved: Mapping[str, Mapping[str, torch.Tensor]],
    where: str,
) -> None:
    """Load every saved state dict into its module, strictly."""
    check_names("modules", saved, modules, where)
    for name, module in modules.items():
        try:
            module.load_state_dict(saved[name], strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{where}: module {name!r} does not fit: {exc}") from exc


def load_matching(
    modules: Mapping[str, torch.nn.Module],
    saved: Mapping[str, Mapping[str, torch.Tensor]],
) -> WeightsReport:
    """Load what fits (same module, key and shape) and report the rest (a warm start)."""
    loaded: list[str] = []
    missing: list[str] = []
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    unexpected = [f"{n}/{k}" for n in saved if n not in modules for k in saved[n]]
    for name, module in modules.items():
        current = module.state_dict()
        given = saved.get(name, {})
        fits = {}
        for key, tensor in given.items():
            if key not in current:
                unexpected.append(f"{name}/{key}")
            elif tuple(tensor.shape) != tuple(current[key].shape):
                mismatched.append((f"{name}/{key}", tuple(tensor.shape), tuple(current[key].shape)))
            else:
                fits[key] = tensor
        missing += [f"{name}/{key}" for key in current if key not in given]
        module.load_state_dict(fits, strict=False)
        loaded += [f"{name}/{key}" for key in fits]
    return WeightsReport(
        loaded=tuple(loaded),
        missing=tuple(missing),
        unexpected=tuple(unexpected),
        mismatched=tuple(mismatched),
    )


def state_dicts(objects: Mapping[str, Any]) -> dict[str, Any]:
    return {name: obj.state_dict() for name, obj in objects.items()}


def load_state_dicts(
    kind: str, objects: Mapping[str, Any], saved: Mapping[str, Any], where: str, strict: bool
) -> None:
    """Load saved optimizer/scheduler states into the objects given (by name)."""
    if not objects:
        return
    if strict:
        check_names(kind, saved, objects, where)
    for name, obj in objects.items():
        if name not in saved:
            continue
        try:
            obj.load_state_dict(saved[name])
        except (ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"{where}: {kind} {name!r} does not fit: {exc}") from exc


class Parts:
    """The objects of one save or load, each by name."""

    def __init__(self, model: Any, optimizer: Any, scheduler: Any, scaler: Any) -> None:
        self.modules = named(model, "model")
        if not self.modules:
            raise CheckpointError("a model (or a mapping of named models) is required")
        self.optimizers = named(optimizer, "optimizer")
        self.schedulers = named(scheduler, "scheduler")
        self.scaler = scaler

    def contents(self) -> dict[str, list[str]]:
        """What a checkpoint of these objects holds, by name (for meta.json)."""
        return {
            "modules": list(self.modules),
            "optimizers": list(self.optimizers),
            "schedulers": list(self.schedulers),
            "scaler": ["scaler"] if self.scaler is not None else [],
        }

    def training_state(self) -> dict[str, Any]:
        """The state dicts of everything but the modules."""
        return {
            "optimizers": state_dicts(self.optimizers),
            "schedulers": state_dicts(self.schedulers),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def apply(
        self,
        weights: Mapping[str, Mapping[str, torch.Tensor]],
        state: Mapping[str, Any],
        where: str,
        strict: bool,
    ) -> WeightsReport | None:
        """Load a checkpoint's weights and state into these objects; not strict, returns what
        fitted and what did not."""
        report = None
        if strict:
            load_modules(self.modules, weights, where)
        else:
            report = load_matching(self.modules, weights)
        for kind, objects in (("optimizers", self.optimizers), ("schedulers", self.schedulers)):
            load_state_dicts(kind, objects, state[kind], where, strict)
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        return report


def dump_state(state: dict[str, Any], where: str) -> bytes:
    """The training state as ``state.pt`` bytes, refused when safe loading would refuse it."""
    data = safe_load.dump(state)
    refused = safe_load.refused_globals(data, f"{where}/{STATE_FILE}")
    if refused:
        raise CheckpointWriteError(
            f"cannot save checkpoint {where}: the training state names {', '.join(refused)}, "
            "which safe loading refuses; pass plain data (numbers, strings, lists, dicts, "
            "tensors) in extra_state"
        )
    return data


def log_report(where: str, report: WeightsReport) -> None:
    level = logging.WARNING if report.skipped else logging.INFO
    logger.log(level, "weights from %s: %s", where, report.describe())
