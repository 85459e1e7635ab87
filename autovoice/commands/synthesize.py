"""``autovoice synthesize "TEXT" -o out.wav``: speech from text with a voice bundle.

Text comes from the argument, or from ``--file PATH`` (``-`` or a ``TEXT`` of ``-``: standard
input), one utterance per line. One utterance is written to ``-o``; several are written beside
it as ``out_0001.wav``, ``out_0002.wav``, …, synthesized ``--batch-size`` sentences at a time.
Settings start from the ``[inference]`` section of ``--config`` (defaults without one); flags
override them. ``--vocoder griffin-lim`` voices the mel with Griffin-Lim (numpy, no trained
vocoder) in place of the bundle's vocoder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from autovoice.commands.config import add_set_option
from autovoice.commands.plugins import registry
from autovoice.errors import AutovoiceError

#: flag destination -> field of the [inference] section it overrides
FLAG_FIELDS = {
    "voice": "voice",
    "backend": "backend",
    "acoustic_backend": "acoustic_backend",
    "vocoder_backend": "vocoder_backend",
    "device": "device",
    "threads": "threads",
    "batch_size": "batch_size",
    "pace": "pace",
    "speaker": "speaker",
}


def read_texts(args: argparse.Namespace) -> list[str]:
    """The utterances to speak: the argument, or the non-blank lines of a file or stdin."""
    source = args.file if args.file is not None else ("-" if args.text == "-" else None)
    if args.file is not None and args.text is not None:
        raise AutovoiceError("give the text as an argument or with --file, not both")
    if source is None:
        if args.text is None:
            raise AutovoiceError('no text: give "TEXT", --file PATH, or --file - for stdin')
        return [args.text]
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AutovoiceError(f"{source}: cannot read the text: {exc}") from exc
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    if not lines:
        raise AutovoiceError(f"{'standard input' if source == '-' else source}: no text in it")
    return lines


def output_paths(out: str, count: int) -> list[Path]:
    """``out`` for one utterance; ``<stem>_0001<suffix>``, … beside it for several."""
    path = Path(out)
    if count == 1:
        return [path]
    suffix = path.suffix or ".wav"
    return [path.with_name(f"{path.stem}_{i:04d}{suffix}") for i in range(1, count + 1)]


def flag_overrides(args: argparse.Namespace) -> list[str]:
    """The flags given, as ``inference.KEY=VALUE`` overrides (checked like ``--set``)."""
    return [
        f"inference.{field}={json.dumps(getattr(args, flag))}"
        for flag, field in FLAG_FIELDS.items()
        if getattr(args, flag) is not None
    ]


def inference_settings(args: argparse.Namespace, reg: Any) -> Any:
    """The ``[inference]`` section of ``--config`` (or the defaults), ``--set`` and the flags
    applied in that order."""
    from autovoice.config import load_config

    overrides = [*args.set, *flag_overrides(args)]
    return load_config(args.config, overrides=overrides, registry=reg).inference


def run(args: argparse.Namespace) -> int:
    from autovoice.audio.io import write_audio
    from autovoice.inference import VoiceInferenceEngine

    texts = read_texts(args)
    reg = registry()
    settings = inference_settings(args, reg)
    engine = VoiceInferenceEngine.from_config(settings, registry=reg, vocoder=args.vocoder)
    waves = engine.synthesize_many(
        texts, speaker_id=settings.speaker, batch_size=settings.batch_size, pace=settings.pace
    )
    timing = engine.last_timing
    for path, wave in zip(output_paths(args.output, len(waves)), waves, strict=True):
        write_audio(path, wave, engine.sample_rate)
        print(f"{path}: {len(wave) / engine.sample_rate:.2f} s")
    if args.verbose and timing is not None:
        for name, info in engine.describe()["stages"].items():
            print(f"{name}: {info['backend']} ({info['artifact']} on {info['device']})")
        print(
            f"{timing.audio_seconds:.2f} s of audio in {timing.seconds:.3f} s: real-time factor "
            f"{timing.rtf:.3f} (acoustic {timing.acoustic_seconds:.3f} s, vocoder "
            f"{timing.vocoder_seconds:.3f} s)"
        )
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("synthesize", help="speak text with a voice bundle")
    parser.add_argument("text", nargs="?", metavar="TEXT", help='text to speak; "-" reads stdin')
    parser.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="audio file")
    parser.add_argument("--file", metavar="PATH", help='one utterance per line; "-" for stdin')
    parser.add_argument("--voice", metavar="BUNDLE", help="voice bundle (directory or .tar)")
    parser.add_argument(
        "--backend", metavar="NAME", help='backend of both stages, "a,b" to fall back, or auto'
    )
    parser.add_argument("--acoustic-backend", metavar="NAME", help="backend of the acoustic stage")
    parser.add_argument("--vocoder-backend", metavar="NAME", help="backend of the vocoder stage")
    parser.add_argument(
        "--vocoder",
        choices=("bundle", "griffin-lim"),
        default="bundle",
        help="the bundle's vocoder (default), or Griffin-Lim computed from the mel",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="inference device")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads per stage")
    parser.add_argument("--speaker", type=int, metavar="N", help="speaker id")
    parser.add_argument("--pace", type=float, metavar="X", help="speaking rate; above 1 is faster")
    parser.add_argument("--batch-size", type=int, metavar="N", help="sentences per batch")
    parser.add_argument("--config", metavar="FILE", help="take [inference] settings from FILE")
    add_set_option(parser)
    parser.add_argument(
        "--verbose", action="store_true", help="print the backends and the real-time factor"
    )
    parser.set_defaults(func=run)
