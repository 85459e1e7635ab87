"""Load ``torch.save`` files without running code: an explicit allow-list, then torch's own
weights-only unpickler. There is no fallback to full unpickling.

Two independent locks:

1. the pickle inside the archive is scanned before anything is loaded: every global it names
   must be on :func:`allowed_globals` (tensor rebuilders, storage types, dtypes, ``torch.Size``,
   ``torch.device``, ``OrderedDict``), and the opcodes that import by other routes
   (``STACK_GLOBAL``, ``INST``, ``OBJ``, ``EXT*``) are refused outright. A file written by
   ``torch.save`` (protocol 2) of plain data passes; anything else is refused with the names;
2. the file is then loaded with ``torch.load(weights_only=True)``, whose unpickler refuses
   everything outside torch's own safe set, whatever another library added to that set.
"""

from __future__ import annotations

import functools
import io
import pickle
import pickletools
import zipfile
from typing import Any

import torch

from autovoice.training.checkpoints.records import CheckpointCorruptError, UnsafeCheckpointError

PICKLE_PROTOCOL = 2
_REFUSED_OPCODES = frozenset({"STACK_GLOBAL", "INST", "OBJ", "EXT1", "EXT2", "EXT4"})
_PLAIN_GLOBALS = frozenset(
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch.Size",
        "torch.device",
    }
)


@functools.cache
def allowed_globals() -> frozenset[str]:
    """Every ``module.name`` a checkpoint's pickle may name."""
    storages = {
        f"torch.{name}"
        for name in dir(torch)
        if name.endswith("Storage") and isinstance(getattr(torch, name), type)
    }
    dtypes = {
        f"torch.{name}" for name in dir(torch) if isinstance(getattr(torch, name), torch.dtype)
    }
    return _PLAIN_GLOBALS | storages | dtypes


def dump(value: Any) -> bytes:
    """``value`` (plain data and tensors) as ``torch.save`` bytes that :func:`load` accepts."""
    buffer = io.BytesIO()
    torch.save(value, buffer, pickle_protocol=PICKLE_PROTOCOL)
    return buffer.getvalue()


def refused_globals(data: bytes, where: str) -> list[str]:
    """What in the ``torch.save`` archive ``data`` is outside the allow-list (empty: nothing)."""
    program = _pickle_of(data, where)
    allowed = allowed_globals()
    refused: list[str] = []
    try:
        for opcode, arg, _pos in pickletools.genops(program):
            if opcode.name in _REFUSED_OPCODES:
                refused.append(f"opcode {opcode.name}")
            elif opcode.name == "GLOBAL":
                name = str(arg).replace(" ", ".", 1)
                if name not in allowed:
                    refused.append(name)
    except (ValueError, EOFError) as exc:
        raise CheckpointCorruptError(f"{where}: its pickle is malformed: {exc}") from exc
    return sorted(set(refused))


def _pickle_of(data: bytes, where: str) -> bytes:
    """The pickle program inside a ``torch.save`` zip archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(names) != 1:
                raise CheckpointCorruptError(f"{where}: not a torch.save archive (no data.pkl)")
            return archive.read(names[0])
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise CheckpointCorruptError(
            f"{where}: not a torch.save zip archive ({exc}); files in torch's legacy format are "
            "not loaded"
        ) from exc


def load(data: bytes, where: str, map_location: Any = None) -> Any:
    """The plain data and tensors in ``data`` (``torch.save`` bytes); ``where`` names the file
    in errors. Raises :class:`UnsafeCheckpointError` for anything beyond the allow-list."""
    refused = refused_globals(data, where)
    if refused:
        raise UnsafeCheckpointError(
            f"refusing to load {where}: it names {', '.join(refused)}, which are not on the "
            "allow-list of plain data (tensors, numbers, strings, lists, dicts); loading it "
            "could run code"
        )
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(f"refusing to load {where}: {_first_line(exc)}") from exc
    except (RuntimeError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointCorruptError(f"{where} cannot be loaded: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
