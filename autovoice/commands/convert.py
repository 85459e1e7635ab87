"""``autovoice convert IN.wav --to-speaker N -o OUT.wav``: a recording spoken again by a speaker
of a voice conversion voice (a bundle exported from a ``converter`` checkpoint).

The input may have any sample rate (it is resampled) and any number of channels (they are
averaged); the output has the voice's sample rate. Settings start from the ``[inference]``
section of ``--config`` (defaults without one); ``--voice``, ``--backend``, ``--device`` and
``--threads`` override them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from autovoice.commands.config import add_set_option
from autovoice.commands.plugins import registry
from autovoice.commands.synthesize import thread_count
from autovoice.errors import AutovoiceError

#: flag destination -> field of the [inference] section it overrides
FLAG_FIELDS = {"voice": "voice", "backend": "backend", "device": "device", "threads": "threads"}


def inference_settings(args: argparse.Namespace, reg: Any) -> Any:
    """The ``[inference]`` section of ``--config`` (or the defaults), then ``--set``, then the
    flags given."""
    from autovoice.config import load_config

    flags = [
        f"inference.{field}={json.dumps(getattr(args, flag))}"
        for flag, field in FLAG_FIELDS.items()
        if getattr(args, flag) is not None
    ]
    return load_config(args.config, overrides=[*args.set, *flags], registry=reg).inference


def speaker_id(text: str, speakers: Sequence[str]) -> int:
    """``--to-speaker``: a speaker id, or the name of one of the voice's speakers."""
    if text.strip().isdigit():
        return int(text)
    if text in speakers:
        return list(speakers).index(text)
    listing = ", ".join(f"{i} {name}" for i, name in enumerate(speakers)) or "0"
    raise AutovoiceError(f"--to-speaker: no speaker {text!r} in this voice (speakers: {listing})")


def run(args: argparse.Namespace) -> int:
    from autovoice.audio.io import read_audio, write_audio
    from autovoice.inference import VoiceInferenceEngine

    reg = registry()
    engine = VoiceInferenceEngine.from_config(inference_settings(args, reg), registry=reg)
    target = speaker_id(args.to_speaker, engine.speakers)
    audio, sample_rate = read_audio(args.input)
    wave = engine.convert_voice(audio, sample_rate, target, where=args.input)
    write_audio(args.output, wave, engine.sample_rate)
    name = f" ({engine.speakers[target]})" if engine.speakers else ""
    print(f"{args.output}: {len(wave) / engine.sample_rate:.2f} s as speaker {target}{name}")
    timing = engine.last_timing
    if args.verbose and timing is not None:
        for stage, info in engine.describe()["stages"].items():
            print(f"{stage}: {info['backend']} ({info['artifact']} on {info['device']})")
        print(
            f"{timing.audio_seconds:.2f} s of audio in {timing.seconds:.3f} s: real-time factor "
            f"{timing.rtf:.3f} (converter {timing.acoustic_seconds:.3f} s, vocoder "
            f"{timing.vocoder_seconds:.3f} s)"
        )
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "convert", help="speak a recording again in the voice of another speaker"
    )
    parser.add_argument("input", metavar="IN.wav", help="the recording (any sample rate)")
    parser.add_argument(
        "--to-speaker", required=True, metavar="N", help="target speaker: its id or its name"
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="audio file")
    parser.add_argument("--voice", metavar="BUNDLE", help="voice conversion bundle")
    parser.add_argument(
        "--backend", metavar="NAME", help='backend of both stages, "a,b" to fall back, or auto'
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="inference device")
    parser.add_argument(
        "--threads", type=thread_count, metavar="N", help="CPU threads per stage (at most the CPUs)"
    )
    parser.add_argument("--config", metavar="FILE", help="take [inference] settings from FILE")
    add_set_option(parser)
    parser.add_argument(
        "--verbose", action="store_true", help="print the backends and the real-time factor"
    )
    parser.set_defaults(func=run)
