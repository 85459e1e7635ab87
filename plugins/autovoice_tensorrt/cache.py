"""Engine cache keys, file names and the JSON sidecar that describes an engine.

Pure: the key is a SHA-256 over everything that makes one engine differ from another (the
ONNX file's checksum, the TensorRT version, the GPU and its compute capability, the profiles,
the precision and the build options that change kernels); the same inputs give the same key on
any machine. Reading and writing files lives in :mod:`autovoice_tensorrt.store`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from autovoice.errors import BackendError
from autovoice_tensorrt.profiles import Profile

SIDECAR_FORMAT = "autovoice-tensorrt-engine"
SIDECAR_VERSION = 1
PRECISIONS = ("fp32", "fp16")
PLAN_SUFFIX = ".plan"
SIDECAR_SUFFIX = ".json"


@attrs.frozen(kw_only=True)
class GpuIdentity:
    """The GPU an engine is built for: engines run only on the same model of GPU."""

    name: str
    compute_capability: tuple[int, int]

    @property
    def sm(self) -> str:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "compute_capability": self.sm}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GpuIdentity:
        major, _, minor = str(data["compute_capability"]).partition(".")
        return cls(name=str(data["name"]), compute_capability=(int(major), int(minor or 0)))


@attrs.frozen(kw_only=True)
class EngineKey:
    """Everything an engine depends on; :attr:`digest` is its cache key."""

    onnx_sha256: str
    tensorrt: str
    gpu: GpuIdentity
    profiles: tuple[Profile, ...]
    precision: str = attrs.field(validator=attrs.validators.in_(PRECISIONS))
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    """Build options that change the engine (FP32 layer patterns, optimization level, …)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "onnx_sha256": self.onnx_sha256,
            "tensorrt": self.tensorrt,
            "gpu": self.gpu.to_dict(),
            "profiles": [p.to_dict() for p in self.profiles],
            "precision": self.precision,
            "options": _plain(self.options),
        }

    @property
    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists and mappings as dicts, so JSON sees one spelling."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def engine_key(
    *,
    onnx_sha256: str,
    tensorrt: str,
    gpu: GpuIdentity,
    profiles: Sequence[Profile],
    precision: str,
    options: Mapping[str, Any] | None = None,
) -> str:
    """The cache key (64 hex digits) of an engine built from these inputs."""
    return EngineKey(
        onnx_sha256=onnx_sha256,
        tensorrt=tensorrt,
        gpu=gpu,
        profiles=tuple(profiles),
        precision=precision,
        options=options or {},
    ).digest


@attrs.frozen
class EnginePaths:
    """Where the engine of one key lives in a directory: the plan and its sidecar."""

    plan: Path
    sidecar: Path


def engine_paths(directory: Path | str, key: str) -> EnginePaths:
    """``DIR/<key>.plan`` and ``DIR/<key>.json``."""
    if not re.fullmatch(r"[0-9a-f]{64}", key):
        raise BackendError(f"engine cache key must be 64 hex digits, got {key!r}")
    root = Path(directory)
    return EnginePaths(root / f"{key}{PLAN_SUFFIX}", root / f"{key}{SIDECAR_SUFFIX}")


def sidecar_path(plan: Path | str) -> Path:
    """The sidecar beside an engine file: ``x.plan`` -> ``x.json``."""
    return Path(plan).with_suffix(SIDECAR_SUFFIX)


def timing_cache_name(tensorrt: str, gpu: GpuIdentity) -> str:
    """A timing cache file name per TensorRT version and GPU (timings are not portable)."""
    slug = re.sub(r"[^a-z0-9]+", "-", gpu.name.lower()).strip("-") or "gpu"
    return f"timing-trt{tensorrt}-{slug}-sm{gpu.sm}.cache"


def make_sidecar(
    key: EngineKey,
    *,
    plan_sha256: str,
    plan_size: int,
    plan_file: str,
    stage: str | None = None,
    created: str = "",
) -> dict[str, Any]:
    """The JSON description of an engine. Its first keys are those of a voice bundle's
    ``engines`` entry (stage, file, key, precision, profiles, tensorrt, gpu)."""
    return {
        "stage": stage,
        "file": plan_file,
        "key": key.digest,
        "precision": key.precision,
        "profiles": [p.to_dict() for p in key.profiles],
        "tensorrt": key.tensorrt,
        "gpu": key.gpu.name,
        "compute_capability": key.gpu.sm,
        "onnx_sha256": key.onnx_sha256,
        "options": _plain(key.options),
        "plan_sha256": plan_sha256,
        "plan_size": plan_size,
        "created": created,
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
    }


@attrs.frozen(kw_only=True)
class EngineRecord:
    """A sidecar, read back and checked."""

    key: str
    precision: str
    profiles: tuple[Profile, ...]
    tensorrt: str
    gpu: GpuIdentity
    plan_sha256: str
    plan_size: int
    stage: str | None = None
    onnx_sha256: str = ""


_REQUIRED = ("key", "precision", "profiles", "tensorrt", "gpu", "compute_capability")


def parse_sidecar(data: Any, where: str) -> EngineRecord:
    """An :class:`EngineRecord` from sidecar JSON; a missing or malformed field raises
    :class:`BackendError` naming ``where`` and the field."""
    if not isinstance(data, Mapping):
        raise BackendError(f"{where}: an engine sidecar must be a JSON object")
    for name in _REQUIRED:
        if name not in data:
            raise BackendError(f"{where}: $.{name}: missing")
    if data["precision"] not in PRECISIONS:
        raise BackendError(f"{where}: $.precision: must be fp32 or fp16, got {data['precision']!r}")
    try:
        profiles = tuple(Profile.from_dict(p) for p in data["profiles"])
        gpu = GpuIdentity.from_dict(
            {"name": data["gpu"], "compute_capability": data["compute_capability"]}
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BackendError(f"{where}: $.profiles or $.gpu: malformed ({exc})") from exc
    return EngineRecord(
        key=str(data["key"]),
        precision=str(data["precision"]),
        profiles=profiles,
        tensorrt=str(data["tensorrt"]),
        gpu=gpu,
        plan_sha256=str(data.get("plan_sha256", "")),
        plan_size=int(data.get("plan_size", -1)),
        stage=data.get("stage"),
        onnx_sha256=str(data.get("onnx_sha256", "")),
    )


def incompatibility(record: EngineRecord, *, tensorrt: str, gpu: GpuIdentity) -> str | None:
    """Why an engine described by ``record`` cannot run here, or None when it can: engines are
    tied to one TensorRT version and one GPU model."""
    if record.tensorrt != tensorrt:
        return f"it was built with TensorRT {record.tensorrt}, this is TensorRT {tensorrt}"
    if record.gpu.compute_capability != gpu.compute_capability or record.gpu.name != gpu.name:
        return (
            f"it was built for {record.gpu.name} (sm {record.gpu.sm}), "
            f"this GPU is {gpu.name} (sm {gpu.sm})"
        )
    return None


def bundle_entry(sidecar: Mapping[str, Any], directory: str = "engines") -> dict[str, Any]:
    """The ``engines`` entry of a voice bundle manifest for an engine stored in ``directory``."""
    entry = {k: sidecar[k] for k in ("stage", "key", "precision", "profiles", "tensorrt", "gpu")}
    entry["file"] = f"{directory}/{sidecar['file']}" if directory else sidecar["file"]
    return entry


__all__ = [
    "PRECISIONS",
    "EngineKey",
    "EnginePaths",
    "EngineRecord",
    "GpuIdentity",
    "bundle_entry",
    "engine_key",
    "engine_paths",
    "incompatibility",
    "make_sidecar",
    "parse_sidecar",
    "sidecar_path",
    "timing_cache_name",
]
