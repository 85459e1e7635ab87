"""Random number generator states as plain data (ints, floats, strings, tensors, dicts, lists),
so they are saved and loaded without pickling objects.

Covers Python's :mod:`random`, numpy's global generator, torch's CPU generator and every CUDA
device's generator (when CUDA is initialized), and any :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import numpy as np
import torch

_ARRAY = "__ndarray__"


def to_plain(value: Any) -> Any:
    """numpy arrays and scalars inside ``value`` as tensors and Python numbers."""
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return {_ARRAY: torch.from_numpy(value.astype(np.int64)), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    return value


def from_plain(value: Any) -> Any:
    """The inverse of :func:`to_plain` (lists stay lists)."""
    if isinstance(value, dict) and _ARRAY in value:
        return np.asarray(value[_ARRAY].cpu().numpy(), dtype=value["dtype"])
    if isinstance(value, dict):
        return {key: from_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_plain(item) for item in value]
    return value


def numpy_generator_state(generator: np.random.Generator) -> dict[str, Any]:
    """The state of a numpy Generator (a sampler's, say) as plain data."""
    return to_plain(generator.bit_generator.state)  # type: ignore[no-any-return]


def set_numpy_generator_state(generator: np.random.Generator, state: dict[str, Any]) -> None:
    """Put ``generator`` back into a state from :func:`numpy_generator_state`."""
    generator.bit_generator.state = from_plain(state)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (CPU and every CUDA device) with
    ``seed``: what ``training.seed`` does before a stage's model is built, so that the initial
    weights, dropout and every other draw are the same from run to run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds the CPU generator and every CUDA device's
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def capture_rng_state() -> dict[str, Any]:
    """The states of this process's global generators."""
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": torch.tensor(internal), "gauss": gauss},
        "numpy": to_plain(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put this process's global generators back into a state from :func:`capture_rng_state`."""
    python = state["python"]
    internal = tuple(int(x) for x in python["internal"].tolist())
    random.setstate((int(python["version"]), internal, python["gauss"]))
    np.random.set_state(from_plain(state["numpy"]))
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda is not None:
        _restore_cuda(cuda)


def _restore_cuda(states: list[torch.Tensor]) -> None:
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available != len(states):
        warnings.warn(
            f"the checkpoint holds the RNG states of {len(states)} CUDA devices and this "
            f"process sees {available}; restoring the first {min(available, len(states))}",
            stacklevel=3,
        )
    for device, device_state in enumerate(states[:available]):
        torch.cuda.set_rng_state(device_state.cpu(), device)
