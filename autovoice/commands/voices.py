"""``autovoice voices [--json]``: the voices this installation can speak with.

Listed first is the default voice, the one ``autovoice synthesize`` uses without ``--voice``
(or with ``--voice default``; ``autovoice info default`` describes it): ``$AUTOVOICE_VOICE``
when set, else the voice shipped inside the package. Then every bundle (a
directory holding a ``manifest.json``, or a ``.tar``) in the user voices folder:
``$AUTOVOICE_VOICES_DIR`` when set, else ``$XDG_DATA_HOME/autovoice/voices``
(``~/.local/share/autovoice/voices``), ``~/Library/Application Support/autovoice/voices`` on
macOS, ``%APPDATA%\\autovoice\\voices`` on Windows. A bundle that cannot be read is listed with
the reason instead of stopping the listing. A voice of the folder can be named by its own
name there (``--voice NAME``): see :func:`resolve_voice`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autovoice.bundle import DEFAULT_VOICE_NAME
from autovoice.errors import AutovoiceError

VOICES_DIR_ENV = "AUTOVOICE_VOICES_DIR"


def user_voices_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The user voices folder (see the module docstring); it need not exist."""
    env = os.environ if environ is None else environ
    system = sys.platform if platform is None else platform
    if env.get(VOICES_DIR_ENV, "").strip():
        return Path(env[VOICES_DIR_ENV].strip()).expanduser()
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    if system == "win32":
        base = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    elif system == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "autovoice" / "voices"


def folder_bundles(folder: Path) -> list[Path]:
    """The bundles directly inside ``folder``, by name; none when it does not exist."""
    from autovoice.bundle import is_bundle

    if not folder.is_dir():
        return []
    return [
        p
        for p in sorted(folder.iterdir())
        if (p.is_dir() and is_bundle(p)) or (p.is_file() and p.suffix == ".tar")
    ]


DEFAULT_NAME = DEFAULT_VOICE_NAME


def resolve_voice(name: str, environ: Mapping[str, str] | None = None) -> str:
    """A voice named on the command line as the path to open: a path that exists as it is;
    ``default`` the default voice; else a bundle of the user voices folder by its directory
    name or its ``.tar`` file's stem. Any other name comes back unchanged, for the caller's own
    "not found" error."""
    from autovoice.bundle import default_voice_path

    if not name or os.path.exists(name) or "://" in name:
        return name
    if name == DEFAULT_NAME:
        default = default_voice_path()
        if default is None:
            raise AutovoiceError(
                "no default voice is installed; pass a voice bundle "
                "(autovoice export makes one from checkpoints) or set AUTOVOICE_VOICE"
            )
        return str(default)
    for path in folder_bundles(user_voices_dir(environ)):
        if name in (path.name, path.stem):
            return str(path)
    return name


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def _usable_backends(artifacts: list[str], registry: Any) -> list[str]:
    """Installed, available backends that run at least one of ``artifacts``."""
    names = []
    for entry in registry.entries("backend"):
        if set(entry.spec.accepts) & set(artifacts) and entry.spec.availability().available:
            names.append(entry.spec.name)
    return names


def _stage(bundle: Any, name: str, registry: Any) -> dict[str, Any]:
    from autovoice.heads import get_head

    info = bundle.stage(name)
    if not info.has_graph:  # its head computes it in numpy: no graph for a backend
        label = get_head(info.head).label if info.head else ""
        return {"plugin": info.plugin, "artifacts": [], "backends": [label or "numpy"]}
    paths = {"onnx": info.onnx, "weights": info.weights}
    artifacts = [kind for kind, path in paths.items() if path is not None and path.is_file()]
    if any(engine.stage == name and engine.file.is_file() for engine in bundle.engines):
        artifacts.append("engine")
    return {
        "plugin": info.plugin,
        "artifacts": artifacts,
        "backends": _usable_backends(artifacts, registry),
    }


def describe_voice(path: Path, source: str, registry: Any) -> dict[str, Any]:
    """What ``autovoice voices`` shows of one bundle; ``problem`` says why one is unreadable."""
    from autovoice.bundle import VoiceBundle

    entry: dict[str, Any] = {"path": str(path), "source": source, "default": source != "user"}
    entry["size_mb"] = round(_size_mb(path), 2) if path.exists() else None
    try:
        bundle = VoiceBundle.open(path, verify=False)
        bundle.check_options(registry)
        stages = {name: _stage(bundle, name, registry) for name in bundle.stages}
    except AutovoiceError as exc:
        return {"name": path.name, **entry, "problem": str(exc)}
    return {
        "name": bundle.name,
        **entry,
        "sample_rate": bundle.audio.sample_rate,
        "symbols": bundle.text.symbols,
        "speakers": [{"id": i, "name": s} for i, s in enumerate(bundle.speakers)],
        "stages": stages,
        "engines": [
            {"stage": e.stage, "precision": e.precision, "gpu": e.gpu} for e in bundle.engines
        ],
    }


def _default_source(environ: Mapping[str, str]) -> str:
    return "AUTOVOICE_VOICE" if environ.get("AUTOVOICE_VOICE", "").strip() else "shipped"


def list_voices(registry: Any = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The default voice (if any) and the user folder's voices, each as :func:`describe_voice`
    gives it, and the folder searched."""
    from autovoice.bundle import default_voice_path

    env = os.environ if environ is None else environ
    if registry is None:
        from autovoice.commands.plugins import registry as discover

        registry = discover()
    found: list[tuple[Path, str]] = []
    default = default_voice_path()
    if default is not None:
        found.append((default, _default_source(env)))
    folder = user_voices_dir(env)
    seen = {p.resolve() for p, _ in found}
    found += [(p, "user") for p in folder_bundles(folder) if p.resolve() not in seen]
    voices = [describe_voice(path, source, registry) for path, source in found]
    return {"voices": voices, "user_folder": str(folder)}


def _speakers(voice: Mapping[str, Any]) -> str:
    speakers = voice["speakers"]
    shown = ", ".join(f"{s['id']} {s['name']}" for s in speakers[:8])
    more = f", … ({len(speakers)} in all)" if len(speakers) > 8 else ""
    return f"speakers: {shown or '-'}{more}"


def render(listing: Mapping[str, Any]) -> list[str]:
    lines = []
    for voice in listing["voices"]:
        mark = f"* default ({voice['source']})" if voice["default"] else "  user voice"
        lines.append(f"{mark}: {voice['name']}  {voice['path']}")
        if "problem" in voice:
            lines.append(f"    unreadable: {voice['problem']}")
            continue
        lines.append(
            f"    {voice['sample_rate']} Hz, {voice['size_mb']:.1f} MB, {voice['symbols']}, "
            + _speakers(voice)
        )
        for name, stage in voice["stages"].items():
            backends = ", ".join(stage["backends"]) or "none installed"
            lines.append(f"    {name}: {stage['plugin']} on {backends}")
    if not listing["voices"]:
        lines.append("no voices installed: give synthesize --voice BUNDLE, or set AUTOVOICE_VOICE")
    lines.append(f"user voices folder: {listing['user_folder']} (${VOICES_DIR_ENV} changes it)")
    return lines


def run(args: argparse.Namespace) -> int:
    listing = list_voices()
    print(json.dumps(listing, indent=2) if args.json else "\n".join(render(listing)))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("voices", help="list the default voice and the installed voices")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.set_defaults(func=run)
