"""``autovoice train CONFIG [--stage acoustic|vocoder|finetune-vocoder|converter]
[--init VOICE_OR_CHECKPOINT [--init-strict] [--new-speaker-from NAME]] [--freeze PART]
[--resume latest|auto|PATH] [--allow-config-change] [--set K=V]``.

Under ``torchrun --nproc-per-node N -m autovoice train CONFIG`` every process runs this command;
rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from autovoice.commands.config import add_set_option
from autovoice.commands.plugins import registry

logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    from autovoice.config import load_config
    from autovoice.training.build import InitOptions, build_trainer
    from autovoice.training.runtime import init_runtime, process_group

    reg = registry()
    config = load_config(args.config, overrides=args.set, registry=reg)
    with process_group(init_runtime(config.training)) as runtime:
        trainer = build_trainer(
            config,
            stage=args.stage,
            registry=reg,
            runtime=runtime,
            progress=not args.quiet,
            acoustic=args.acoustic,
            init=args.init if args.resume in (None, AUTO) else None,
            init_options=InitOptions(
                strict=args.init_strict,
                new_speaker_from=args.new_speaker_from,
                freeze=_parts(args.freeze),
                report=lambda report: print(report.describe()) if runtime.is_main else None,
            ),
        )
        if args.freeze and runtime.is_main:
            print(f"frozen: {', '.join(_parts(args.freeze))}")
        resume = _resume_target(trainer, args.resume)
        if resume:
            trainer.resume(resume, allow_config_change=args.allow_config_change)
        result = trainer.fit()
    if runtime.is_main:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        print(
            f"{args.stage}: step {result.step}, epoch {result.epoch}"
            + (f": {shown}" if shown else "")
        )
        print(f"checkpoints: {trainer.checkpoints.uri}")
    return 0


def _parts(given: list[str] | None) -> tuple[str, ...]:
    """``--freeze a --freeze b,c`` as ``(a, b, c)``."""
    return tuple(p.strip() for value in given or () for p in value.split(",") if p.strip())


AUTO = "auto"
"""``--resume auto``: the latest checkpoint when the run has one, else a fresh start (what a
supervisor that restarts a crashed job, such as ``torchrun --max-restarts``, passes)."""


def _resume_target(trainer: Any, given: str | None) -> str | None:
    """What to resume from: ``given``, with ``auto`` made ``latest`` when the stage's store
    holds any checkpoint (a damaged one too: resume then refuses rather than start over)."""
    if given != AUTO:
        return given
    from autovoice.training.checkpoints.catalog import scan

    found = scan(trainer.checkpoints.store)
    if found.records or found.damaged:
        return "latest"
    logger.info("--resume auto: no checkpoint in %s, starting fresh", trainer.checkpoints.uri)
    return None


def register(sub: Any) -> None:
    parser = sub.add_parser("train", help="train the acoustic model or the vocoder")
    parser.add_argument("config", metavar="CONFIG", help="a TOML config file")
    parser.add_argument(
        "--stage",
        choices=("acoustic", "vocoder", "finetune-vocoder", "converter"),
        default="acoustic",
        help="what to train: the acoustic model, the vocoder on recorded mels, the vocoder "
        "fine-tuned on the acoustic model's predicted mels, or a voice converter",
    )
    parser.add_argument(
        "--acoustic",
        metavar="CKPT",
        help="finetune-vocoder: the acoustic checkpoint (default: the run's acoustic stage)",
    )
    parser.add_argument(
        "--init",
        metavar="VOICE_OR_CKPT",
        help="start from the weights of a voice bundle ('default': the shipped voice) or a "
        "checkpoint; the optimizer starts fresh (finetune-vocoder default: the run's vocoder "
        "stage)",
    )
    parser.add_argument(
        "--init-strict",
        action="store_true",
        help="with --init: refuse to start unless every tensor loads, naming those that do not",
    )
    parser.add_argument(
        "--new-speaker-from",
        metavar="NAME",
        help="with --init: start the corpus' new speakers from this known speaker "
        "(default: the mean of the known speakers)",
    )
    parser.add_argument(
        "--freeze",
        action="append",
        metavar="PART",
        help="keep a part of the model as it is (repeat or comma-separate; voice_transformer: "
        "encoder, decoder, embedding, speaker_embedding, duration_predictor, ...; an unknown "
        "part lists the model's)",
    )
    parser.add_argument(
        "--resume",
        metavar="latest|auto|PATH",
        help="continue from the latest or a given checkpoint; auto: the latest if the run has "
        "one, else start fresh (for supervisors that restart a crashed run)",
    )
    parser.add_argument(
        "--allow-config-change",
        action="store_true",
        help="with --resume: apply settings that differ from the checkpoint's (each is logged) "
        "instead of refusing them",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_set_option(parser)
    parser.set_defaults(func=run)
