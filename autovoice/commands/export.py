"""``autovoice export ACOUSTIC [VOCODER | --vocoder griffin_lim] [--out DIR] [--archive]
[--no-validate] [--set K=V]``.

The first checkpoint is an acoustic model's (a text-to-speech voice) or a voice conversion
model's (``autovoice train --stage converter``: a voice that converts recordings). Each
checkpoint is a checkpoint's path or URI, a run's checkpoint directory (or the stage
directory holding ``checkpoints/``) for its latest checkpoint, or either directory with
``@latest`` or ``@best``: ``autovoice export runs/demo/acoustic runs/demo/vocoder@best``.
With ``--vocoder griffin_lim`` in place of a vocoder checkpoint the voice's vocoder is
Griffin-Lim, computed from the mel (``--iterations`` of it): no vocoder needs training.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from autovoice.commands.config import add_set_option
from autovoice.commands.plugins import registry
from autovoice.errors import AutovoiceError


def _summary(manifest: dict[str, Any], stage: str) -> str:
    entry = manifest[stage]
    if "checkpoint" not in entry:  # a Griffin-Lim vocoder: options only
        options = ", ".join(f"{k} {v}" for k, v in entry.get("options", {}).items())
        return f"{stage:<10}{entry['plugin']} ({options})"
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


def vocoder_source(args: argparse.Namespace) -> str | None:
    """The vocoder checkpoint given, or None for ``--vocoder griffin_lim``."""
    if args.vocoder_kind == "griffin_lim":
        if args.vocoder is not None:
            raise AutovoiceError(
                f"give a vocoder checkpoint ({args.vocoder}) or --vocoder griffin_lim, not both"
            )
        return None
    if args.iterations is not None:
        raise AutovoiceError("--iterations applies to --vocoder griffin_lim only")
    if args.vocoder is None:
        raise AutovoiceError("no vocoder: give VOCODER_CKPT, or --vocoder griffin_lim")
    return str(args.vocoder)


def run(args: argparse.Namespace) -> int:
    from autovoice.bundle import ALL_STAGES
    from autovoice.export.bundle_writer import export_voice

    overrides = list(args.set) + (["export.validate=false"] if args.no_validate else [])
    vocoder = vocoder_source(args)
    start = time.perf_counter()
    path = export_voice(
        args.acoustic,
        vocoder,
        args.out,
        overrides=overrides,
        registry=registry(),
        name=args.name,
        archive=args.archive,
        overwrite=args.force,
        griffin_lim={"iterations": args.iterations} if args.iterations is not None else None,
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
        help="export an acoustic (or converter) and a vocoder checkpoint (or Griffin-Lim) as a "
        "voice bundle (ONNX)",
    )
    parser.add_argument(
        "acoustic",
        metavar="ACOUSTIC_CKPT",
        help="acoustic or converter checkpoint, run directory[@best]",
    )
    parser.add_argument(
        "vocoder",
        nargs="?",
        metavar="VOCODER_CKPT",
        help="vocoder checkpoint, run directory[@best], a voice bundle (its vocoder stage kept "
        "byte for byte), or --vocoder griffin_lim",
    )
    parser.add_argument(
        "--vocoder",
        dest="vocoder_kind",
        choices=("checkpoint", "griffin_lim"),
        default="checkpoint",
        help="griffin_lim: no vocoder checkpoint, Griffin-Lim computes the waveform from the mel",
    )
    parser.add_argument(
        "--iterations", type=int, metavar="N", help="Griffin-Lim iterations (default 32)"
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
