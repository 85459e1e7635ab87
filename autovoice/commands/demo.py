"""``autovoice demo [--out demo-run] [--steps N]``: the main job, from first speech to a voice
trained, resumed, exported and scored (:mod:`autovoice.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def run(args: argparse.Namespace) -> int:
    from autovoice.demo import SCORED, TRAINED_TEXT, run_demo, verdict

    result = run_demo(
        args.out,
        config_path=args.config,
        steps=args.steps,
        vocoder_steps=args.vocoder_steps,
        say=lambda line: print(line, flush=True),
    )
    if result.scores:
        print(f"\nWord error (pocketsphinx) of {TRAINED_TEXT!r}, and of {len(SCORED)} sentences:")
        for s in result.scores:
            print(f"  {s.who}: {s.wer:.0%}, over all {s.overall:.0%}; heard {s.heard!r}")
        print(verdict(result.scores))
    print(f"\nDone in {result.seconds / 60:.1f} min. Files written:")
    for path in result.files:
        print(f"  {path}{'/' if path.is_dir() else ''}")
    return 0


def register(sub: Any) -> None:
    from autovoice.demo import DEMO_CONFIG

    parser = sub.add_parser(
        "demo", help="speak, then train, resume, export and score a voice in a few minutes"
    )
    parser.add_argument(
        "--out", default="demo-run", help="folder for everything it makes (replaced each run)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEMO_CONFIG,
        help="training config (default: the packaged autovoice/demo.toml)",
    )
    parser.add_argument("--steps", type=int, help="acoustic steps (default: the config's)")
    parser.add_argument("--vocoder-steps", type=int, default=200, help="vocoder steps (200)")
    parser.set_defaults(func=run)
