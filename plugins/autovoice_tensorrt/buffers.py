"""Device buffers that grow when a longer input arrives, and never shrink.

:class:`BufferPlan` is pure: given the bytes each tensor needs now and the capacity each buffer
has, it says which buffers to (re)allocate and to what size. A buffer grows to the next power of
two of the bytes it needs (so a slowly growing input reallocates a logarithmic number of times),
capped where the tensor's largest possible size is known. :class:`DeviceBuffers` carries a plan
out with CUDA allocations.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

MIN_BYTES = 256
"""Smallest buffer: cudaMalloc's alignment, and never a null pointer for an empty tensor."""


def tensor_nbytes(shape: Sequence[int], dtype: Any) -> int:
    """Bytes of a dense tensor of ``shape`` and numpy ``dtype``."""
    if any(int(d) < 0 for d in shape):
        raise ValueError(f"shape {list(shape)} has an unresolved (negative) dimension")
    return int(math.prod(int(d) for d in shape) * np.dtype(dtype).itemsize)


def grown_capacity(nbytes: int, *, cap: int | None = None, minimum: int = MIN_BYTES) -> int:
    """Capacity for a buffer that must hold ``nbytes``: the next power of two (at least
    ``minimum``), but not above ``cap`` unless ``nbytes`` itself is."""
    need = max(int(nbytes), minimum, 1)
    size = 1 << (need - 1).bit_length()
    if cap is not None and size > cap:
        size = max(need, int(cap))
    return size


@attrs.frozen
class BufferPlan:
    """Which buffers to allocate (name -> new capacity in bytes) and which to keep as they are."""

    allocate: Mapping[str, int] = attrs.field(factory=dict)
    keep: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.allocate

    @classmethod
    def make(
        cls,
        current: Mapping[str, int],
        needs: Mapping[str, int],
        *,
        caps: Mapping[str, int] | None = None,
        minimum: int = MIN_BYTES,
    ) -> BufferPlan:
        """Plan for tensors needing ``needs`` bytes when buffers hold ``current`` bytes: a
        buffer big enough is kept (even when the tensor shrank); a missing or too small one is
        allocated at :func:`grown_capacity`. Buffers not named in ``needs`` are kept."""
        caps = caps or {}
        allocate: dict[str, int] = {}
        keep: list[str] = []
        for name, nbytes in needs.items():
            have = current.get(name)
            if have is not None and have >= max(nbytes, 1):
                keep.append(name)
            else:
                allocate[name] = grown_capacity(nbytes, cap=caps.get(name), minimum=minimum)
        return cls(allocate, tuple(keep))

    @classmethod
    def for_tensors(
        cls,
        current: Mapping[str, int],
        tensors: Mapping[str, tuple[Sequence[int], Any]],
        *,
        caps: Mapping[str, int] | None = None,
    ) -> BufferPlan:
        """:meth:`make` from ``{name: (shape, dtype)}``."""
        needs = {name: tensor_nbytes(shape, dtype) for name, (shape, dtype) in tensors.items()}
        return cls.make(current, needs, caps=caps)


class DeviceBuffers:
    """Named device buffers, allocated through ``cuda`` (a :class:`~autovoice_tensorrt.device.Cuda`)
    as plans say. Not thread-safe: its session serializes calls."""

    def __init__(self, cuda: Any) -> None:
        self._cuda = cuda
        self._buffers: dict[str, tuple[int, int]] = {}
        self.allocations = 0
        """How many allocations were made so far (tests and diagnostics read it)."""

    @property
    def capacities(self) -> dict[str, int]:
        return {name: size for name, (_, size) in self._buffers.items()}

    def address(self, name: str) -> int:
        return self._buffers[name][0]

    def __contains__(self, name: object) -> bool:
        return name in self._buffers

    def __iter__(self) -> Iterator[str]:
        return iter(self._buffers)

    def apply(self, plan: BufferPlan) -> None:
        """Allocate what ``plan`` asks; an old buffer is freed before its replacement is made,
        so memory peaks at the new size, not at old plus new."""
        for name, size in plan.allocate.items():
            self.release(name)
            self._buffers[name] = (self._cuda.malloc(size), size)
            self.allocations += 1

    def ensure(self, name: str, nbytes: int, *, cap: int | None = None) -> int:
        """The address of buffer ``name`` after growing it to hold ``nbytes`` if needed."""
        caps = {name: cap} if cap is not None else None
        self.apply(BufferPlan.make(self.capacities, {name: nbytes}, caps=caps))
        return self.address(name)

    def release(self, name: str) -> None:
        entry = self._buffers.pop(name, None)
        if entry is not None:
            self._cuda.free(entry[0])

    def close(self) -> None:
        """Free every buffer (each one even when freeing another fails; the first error is
        raised after)."""
        first: Exception | None = None
        for name in list(self._buffers):
            try:
                self.release(name)
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first


__all__ = ["MIN_BYTES", "BufferPlan", "DeviceBuffers", "grown_capacity", "tensor_nbytes"]
