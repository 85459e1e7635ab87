"""``autovoice export ACOUSTIC VOCODER [--out DIR] [--archive] [--no-validate] [--set K=V]``.

The first checkpoint is an acoustic model's (a text-to-speech voice) or a voice conversion
model's (``autovoice train --stage converter``: a voice that converts recordings). Each
checkpoint is a checkpoint's path or URI, a run's checkpoint directory (or the stage
directory holding ``checkpoints/``) for its latest checkpoint, or either directory with
``@latest`` or ``@best``: ``autovoice export runs/demo/acoustic runs/demo/vocoder@best``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from autovoice.commands.config import add_set_option
from autovoice.commands.plugins import registry


def _summary(manifest: dict[str, Any], stage: str) -> str:
    entry = manifest[stage]
    where = entry["checkpoint"]
    line = f"{stage:<10}{entry['plugin']} (step {where['step']}, {where['location']})"
    check = entry.get("validation")
    if check:
        line += (
            f"; ONNX within {check['max_abs_diff']:.2g} of PyTorch "
            f"(tolerance {check['tolerance']:g}, {len(check['cases'])} cases)"
        )
    return line


def _manifest(path: Path) -> dict[str, Any]:
    from autovoice.bundle import VoiceBundle

    return dict(VoiceBundle.open(path, verify=False).manifest)


def run(args: argparse.Namespace) -> int:
    from autovoice.bundle import ALL_STAGES
    from autovoice.export.bundle_writer import export_voice

    overrides = list(args.set) + (["export.validate=false"] if args.no_validate else [])
    start = time.perf_counter()
    path = export_voice(
        args.acoustic,
        args.vocoder,
        args.out,
        overrides=overrides,
        registry=registry(),
        name=args.name,
        archive=args.archive,
        overwrite=args.force,
    )
    elapsed = time.perf_counter() - start
    manifest = _manifest(path)
    if args.json:
        print(json.dumps({"bundle": str(path), "seconds": elapsed, "manifest": manifest}))
        return 0
    print(f"voice bundle {path} ({elapsed:.1f} s)")
    for stage in ALL_STAGES:
        if stage in manifest:
            print(_summary(manifest, stage))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "export",
        help="export an acoustic (or converter) and a vocoder checkpoint as a voice bundle (ONNX)",
    )
    parser.add_argument(
        "acoustic",
        metavar="ACOUSTIC_CKPT",
        help="acoustic or converter checkpoint, run directory[@best]",
    )
    parser.add_argument(
        "vocoder", metavar="VOCODER_CKPT", help="vocoder checkpoint, run directory[@best]"
    )
    parser.add_argument(
        "--out", "-o", metavar="DIR", help="bundle directory (default: export.output_dir)"
    )
    parser.add_argument("--archive", action="store_true", help="write one DIR.tar instead")
    parser.add_argument(
        "--no-validate", action="store_true", help="skip the ONNX Runtime vs PyTorch check"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing bundle")
    parser.add_argument("--name", help="voice name in the manifest (default: the bundle's)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    add_set_option(parser)
    parser.set_defaults(func=run)
