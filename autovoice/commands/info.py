"""``autovoice info PATH [--json] [--no-verify]``: what a checkpoint, a voice bundle, an ONNX
file or a TensorRT engine holds (no torch needed). ``autovoice info default`` describes the
default voice, and a voice of the user voices folder can be named by its folder name.

A checkpoint is named as ``autovoice export`` takes it (``runs/demo/acoustic@best``). A bundle
and a checkpoint have every checksum checked unless ``--no-verify``; the exit status is 1 when
one does not match.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autovoice.errors import AutovoiceError

EXIT_DAMAGED = 1
ENGINE_SUFFIXES = (".plan", ".engine", ".trt")


def kind_of(path: str) -> str:
    """``bundle``, ``onnx``, ``engine`` or ``checkpoint``."""
    from autovoice.bundle import is_bundle

    where = Path(path)
    if where.suffix == ".onnx" and where.is_file():
        return "onnx"
    if where.suffix in ENGINE_SUFFIXES and where.is_file():
        return "engine"
    if "://" not in path and where.exists() and is_bundle(where):
        return "bundle"
    if where.is_file():
        raise AutovoiceError(
            f"{path}: not a checkpoint, a voice bundle, an ONNX file or a TensorRT engine"
        )
    return "checkpoint"


def _tensors(signature: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        "inputs": [t.to_dict() for t in signature.inputs],
        "outputs": [t.to_dict() for t in signature.outputs],
    }


def bundle_problems(bundle: Any) -> list[str]:
    """Every file's size and checksum, then whether each intact file is what its name says: an
    ONNX graph that ONNX Runtime (when installed) can open, safetensors whose header and data
    agree. A checksum only says the file is the one the manifest was written for; a crafted
    bundle may list the checksum of anything."""
    from autovoice.bundle import BundleError, check_file

    problems = []
    for name, entry in bundle.files.items():
        try:
            check_file(bundle.root, name, entry)
        except BundleError as exc:
            problems.append(str(exc))
            continue
        problem = _content_problem(bundle.root / name)
        if problem:
            problems.append(f"{bundle.root / name}: {problem}")
    return problems


def _content_problem(path: Path) -> str | None:
    if path.suffix == ".onnx":
        return _graph_problem(path)
    if path.suffix == ".safetensors":
        return _safetensors_problem(path)
    return None


def _graph_problem(path: Path) -> str | None:
    """Why ONNX Runtime cannot open the graph at ``path`` (None when it can, or when ONNX
    Runtime is not installed)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own error types for a bad graph
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"not a graph ONNX Runtime can open ({first[:160]})"
    return None


def _safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a safetensors file: its header must be JSON of tensors whose data
    offsets lie inside the file (read without loading any tensor)."""
    size = path.stat().st_size
    with open(path, "rb") as stream:
        head = stream.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < length <= size - 8:
            return "not a safetensors file (its header length does not fit the file)"
        try:
            header = json.loads(stream.read(length))
        except (UnicodeDecodeError, ValueError):
            return "not a safetensors file (its header is not JSON)"
    if not isinstance(header, dict):
        return "not a safetensors file (its header is not an object)"
    room = size - 8 - length
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        offsets = tensor.get("data_offsets") if isinstance(tensor, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= room
        ):
            return f"not a safetensors file (tensor {name!r} lies outside the file)"
    return None


def _stage(bundle: Any, name: str) -> dict[str, Any]:
    stage = bundle.stage(name)
    entry = bundle.manifest[name]
    return {
        "plugin": stage.plugin,
        "onnx": stage.onnx.name if stage.onnx else None,
        "weights": stage.weights.name if stage.weights else None,
        "opset": stage.opset,
        **_tensors(stage.signature),
        "checkpoint": dict(stage.checkpoint),
        "validation": entry.get("validation"),
        **({"head": stage.head, "head_options": dict(stage.head_options)} if stage.head else {}),
    }


def bundle_info(path: str, verify: bool = True, registry: Any = None) -> dict[str, Any]:
    from autovoice.bundle import VoiceBundle
    from autovoice.commands.plugins import registry as discover

    bundle = VoiceBundle.open(path, verify=False)
    bundle.check_options(registry if registry is not None else discover())
    manifest = bundle.manifest
    audio = bundle.audio
    return {
        "kind": "bundle",
        "path": path,
        "root": str(bundle.root),
        "name": bundle.name,
        "created": manifest.get("created"),
        "format_version": manifest["format_version"],
        "audio": {k: getattr(audio, k) for k in ("sample_rate", "hop_length", "n_mels")},
        "text": {"language": bundle.text.language, "symbols": bundle.text.symbols},
        "symbols": len(bundle.symbols),
        "speakers": list(bundle.speakers),
        "stages": {name: _stage(bundle, name) for name in bundle.stages},
        "engines": list(manifest.get("engines", [])),
        "limits": dict(bundle.limits),
        "files": len(bundle.files),
        "size": sum(int(f["size"]) for f in bundle.files.values()),
        "tools": manifest.get("tools"),
        "problems": bundle_problems(bundle) if verify else None,
    }


def _owner(path: Path) -> tuple[Path, str] | None:
    """The bundle a file belongs to and its name there, when its manifest lists it."""
    from autovoice.bundle import MANIFEST, BundleError, read_manifest

    for root in (path.parent, path.parent.parent):
        if (root / MANIFEST).is_file():
            try:
                files = read_manifest(root).get("files") or {}
            except BundleError:
                return None
            name = path.resolve().relative_to(root.resolve()).as_posix()
            return (root, name) if name in files else None
    return None


def file_info(path: str, kind: str) -> dict[str, Any]:
    """Size and checksum of a file, and its bundle's manifest entries when it has one."""
    from autovoice.bundle import read_manifest, sha256_file

    where = Path(path)
    info: dict[str, Any] = {"kind": kind, "path": path, "size": where.stat().st_size}
    info["sha256"] = sha256_file(where)
    owner = _owner(where)
    if owner is not None:
        manifest = read_manifest(owner[0])
        info["bundle"] = str(owner[0])
        info["checksum_ok"] = manifest["files"][owner[1]]["sha256"] == info["sha256"]
        engines = [e for e in manifest.get("engines", []) if e.get("file") == owner[1]]
        info["engine"] = engines[0] if engines else None
    return info


def engine_info(path: str) -> dict[str, Any]:
    """An engine file and the ``<key>.json`` sidecar the tensorrt backend writes beside it."""
    info = file_info(path, "engine")
    sidecar = Path(path).with_suffix(".json")
    try:
        described = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else None
    except (OSError, ValueError) as exc:
        raise AutovoiceError(f"{sidecar}: cannot be read: {exc}") from None
    if info.get("engine") is None and isinstance(described, dict):
        info["engine"] = described
    return info


def onnx_info(path: str) -> dict[str, Any]:
    from autovoice.export.graph import graph_signature, load_model, opset_of

    model = load_model(path)
    info = file_info(path, "onnx")
    info |= {
        "opset": opset_of(model),
        "producer": f"{model.producer_name} {model.producer_version}",
    }
    info |= _tensors(graph_signature(model))
    return info


def describe(path: str, verify: bool = True, registry: Any = None) -> dict[str, Any]:
    """What ``path`` is and holds, as JSON-ready data (``kind`` says which)."""
    kind = kind_of(path)
    if kind == "bundle":
        return bundle_info(path, verify, registry)
    if kind == "onnx":
        return onnx_info(path)
    if kind == "engine":
        return engine_info(path)
    try:
        return checkpoint_info(path, verify, registry)
    except AutovoiceError as exc:
        if not Path(path).is_dir():
            raise
        from autovoice.bundle import MANIFEST

        raise AutovoiceError(
            f"{path}: not a voice bundle (no {MANIFEST}); read as a checkpoint: {exc}"
        ) from None


def checkpoint_info(path: str, verify: bool = True, registry: Any = None) -> dict[str, Any]:
    from autovoice.commands.checkpoints import checkpoint_info as read_info
    from autovoice.training.checkpoints.references import resolve_checkpoint

    info = read_info(resolve_checkpoint(path, registry).location, verify, registry)
    config = info.get("config") or {}
    info["kind"] = "checkpoint"
    info["modules"] = list((info.get("contents") or {}).get("modules") or [])
    info["plugins"] = {
        section: (config.get(section) or {}).get("name") or None for section in ("model", "vocoder")
    }
    return info


def _render_bundle(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    audio = info["audio"]
    lines = [
        ("bundle", f"{info['path']} (format {info['format_version']})"),
        ("name", str(info["name"])),
        ("created", str(info["created"])),
        ("audio", f"{audio['sample_rate']} Hz, hop {audio['hop_length']}, {audio['n_mels']} mels"),
        (
            "text",
            f"{info['text']['language']}, {info['text']['symbols']} ({info['symbols']} symbols)",
        ),
        ("speakers", ", ".join(info["speakers"]) or "-"),
    ]
    for name, stage in info["stages"].items():
        check = stage.get("validation")
        parity = f", parity {check['max_abs_diff']:.2g}" if check else ""
        step = stage["checkpoint"].get("step")
        head = f", head {stage['head']}" if stage.get("head") else ""
        graph = f"{stage['onnx']} opset {stage['opset']}"
        lines.append((name, f"{stage['plugin']} step {step}, {graph}{parity}{head}"))
        lines += [
            (f"  {side[:-1]}", _tensor_line(t))
            for side in ("inputs", "outputs")
            for t in stage[side]
        ]
    lines += [
        ("engine", f"{e.get('stage')} {e.get('precision')} {e.get('file')}")
        for e in info["engines"]
    ]
    limits = info["limits"]
    lines.append(("limits", f"{limits['max_tokens']} tokens, {limits['max_frames']} frames"))
    lines.append(("files", f"{info['files']} ({info['size']:,} bytes)"))
    tools = info.get("tools") or {}
    lines.append(("made with", ", ".join(f"{k} {v}" for k, v in tools.items() if v)))
    return lines + _integrity(info)


def _tensor_line(tensor: Mapping[str, Any]) -> str:
    shape = ", ".join(str(d) for d in tensor["shape"])
    return f"{tensor['name']}: {tensor['dtype']} [{shape}]"


def _integrity(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = info.get("problems")
    if problems is None:
        return []
    lines = [("integrity", "ok: every checksum matches" if not problems else "DAMAGED")]
    return lines + [("problem", p) for p in problems]


def _render_file(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    lines = [(info["kind"], info["path"]), ("size", f"{info['size']:,} bytes")]
    lines.append(("sha256", info["sha256"]))
    if "opset" in info:
        lines += [("opset", str(info["opset"])), ("producer", info["producer"])]
        lines += [
            (side[:-1], _tensor_line(t)) for side in ("inputs", "outputs") for t in info[side]
        ]
    if "bundle" in info:
        ok = "matches the manifest" if info["checksum_ok"] else "DOES NOT match the manifest"
        lines.append(("bundle", f"{info['bundle']} (checksum {ok})"))
    if info.get("engine"):
        engine = info["engine"]
        lines.append(
            (
                "engine",
                ", ".join(
                    f"{k} {engine[k]}"
                    for k in ("stage", "precision", "tensorrt", "gpu")
                    if k in engine
                ),
            )
        )
    return lines


def render(info: Mapping[str, Any]) -> list[str]:
    if info["kind"] == "checkpoint":
        from autovoice.commands.checkpoints import render_info

        plugins = ", ".join(f"{k} {v}" for k, v in info["plugins"].items() if v) or "-"
        extra = [
            f"{'modules':<11} {', '.join(info['modules']) or '-'}",
            f"{'plugins':<11} {plugins}",
        ]
        return render_info(dict(info)) + extra
    pairs = _render_bundle(info) if info["kind"] == "bundle" else _render_file(info)
    return [f"{label:<11} {value}" for label, value in pairs]


def _damaged(info: Mapping[str, Any]) -> bool:
    return bool(info.get("problems")) or info.get("checksum_ok") is False


def run(args: argparse.Namespace) -> int:
    from autovoice.commands.voices import resolve_voice
    from autovoice.training.checkpoints.references import split_selector

    path = resolve_voice(args.path)
    base, _which = split_selector(path)
    if "://" not in base and not os.path.exists(base):
        raise AutovoiceError(f"{path}: no such file or directory")
    info = describe(path, verify=not args.no_verify)
    print(json.dumps(info, indent=2, default=str) if args.json else "\n".join(render(info)))
    return EXIT_DAMAGED if _damaged(info) else 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "info", help="describe a checkpoint, a voice bundle, an ONNX file or a TensorRT engine"
    )
    parser.add_argument(
        "path",
        metavar="PATH",
        help="checkpoint, run directory[@best], bundle, file; a voice's name, or default",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip checking checksums")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.set_defaults(func=run)
