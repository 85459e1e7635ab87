"""``autovoice synthesize "TEXT" -o out.wav``: speech from text with a voice bundle.

The text is the ``TEXT`` argument, the file of ``--file PATH``, or standard input (no ``TEXT``,
a ``TEXT`` of ``-``, or ``--file -``). All of it is one utterance in one file, split into
sentences by the engine; ``--per-line`` makes each non-blank line its own utterance and file,
``out-0001.wav``, ``out-0002.wav``, … beside ``-o out.wav``. The format follows the extension of
``-o`` (checked before synthesis); ``-o -`` writes a WAV stream and ``--output-raw`` raw 16-bit
little-endian mono PCM to standard output, which then carries nothing else: the report goes to
standard error. Settings start from the ``[inference]`` section of ``--config`` (defaults without
one); flags override them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from autovoice.commands._text_input import read_lines, read_text, text_source, utterances
from autovoice.commands.config import add_set_option
from autovoice.commands.plugins import registry
from autovoice.errors import AutovoiceError

STDIO = "-"  # a file name that means standard output (or input, for the text)
RAW = ".raw"
WAV = ".wav"

#: flags that override the field of the [inference] section of the same name
FLAG_FIELDS = (
    *("voice", "backend", "acoustic_backend", "vocoder_backend", "device", "threads"),
    *("batch_size", "pace", "speaker"),
)
#: flag destination -> engine keyword it sets (no [inference] field holds these)
ENGINE_FLAGS = {
    "max_chars": "max_chars",
    "sentence_silence": "sentence_pause",
    "lexicon": "lexicon",
}


def read_texts(args: argparse.Namespace) -> list[str]:
    """The utterances: each non-blank line with ``--per-line``, else all the text as one (its
    line breaks are spaces to the sentence splitter; blank lines end sentences)."""
    pieces = read_lines(args) if args.per_line else [read_text(args)]
    return list(utterances(pieces, text_source(args)))


# -- where the audio goes ----------------------------------------------------------------------


def stream_kind(args: argparse.Namespace) -> str | None:
    """``.wav`` or ``.raw`` when the audio goes to standard output, None for files. Checks the
    output before anything is synthesized: a file's format must be one this installation
    writes, one stream cannot hold a WAV file per line, and a terminal takes no audio."""
    if not args.output_raw and args.output != STDIO:
        check_output(args.output)
        return None
    if not args.output_raw and args.per_line:
        raise AutovoiceError(
            "-o - writes one WAV stream and --per-line one file per line: give -o OUT.wav, "
            "or --output-raw to stream the lines as raw PCM"
        )
    if sys.stdout is not None and sys.stdout.isatty():
        raise AutovoiceError(
            "not writing audio to a terminal: redirect it (> out.wav) or pipe it into a player"
        )
    return RAW if args.output_raw else WAV


def check_output(out: str) -> None:
    """``-o OUT``: a file name (not empty, not a folder) whose extension is a format this
    installation writes; the error names the argument."""
    from autovoice.audio.io import output_format

    if not out.strip():
        raise AutovoiceError("-o: empty; give the audio file to write, such as -o out.wav")
    if out.endswith(("/", os.sep)) or Path(out).is_dir():
        raise AutovoiceError(
            f"-o {out}: is a folder; give a file in it, such as {Path(out) / 'out.wav'}"
        )
    output_format(out)


def numbered_paths(out: str, count: int) -> list[Path]:
    """``out-0001.wav``, ``out-0002.wav``, … beside ``out.wav``: one name per line."""
    path = Path(out)
    return [path.with_name(f"{path.stem}-{i:04d}{path.suffix}") for i in range(1, count + 1)]


def write_stream(engine: Any, wave: Any, kind: str) -> None:
    """``wave`` on standard output, encoded as ``kind`` (``.wav`` or ``.raw``)."""
    from autovoice.audio.io import encode_audio

    data = encode_audio(wave, engine.sample_rate, kind)
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        raise AutovoiceError("standard output takes no bytes here; write to a file with -o")
    out.write(data)
    out.flush()


# -- settings and the engine -------------------------------------------------------------------


def flag_overrides(args: argparse.Namespace) -> list[str]:
    """The flags given, as ``inference.KEY=VALUE`` overrides (checked like ``--set``);
    ``--length-scale X`` is ``pace = 1 / X``."""
    values = {flag: getattr(args, flag) for flag in FLAG_FIELDS}
    if args.length_scale is not None:
        values["pace"] = 1.0 / args.length_scale
    return [f"inference.{k}={json.dumps(v)}" for k, v in values.items() if v is not None]


def inference_settings(args: argparse.Namespace, reg: Any) -> Any:
    """The ``[inference]`` section of ``--config`` (or the defaults), ``--set`` and the flags
    applied in that order, with the voice's name resolved to its path."""
    import attrs

    from autovoice.commands.voices import resolve_voice
    from autovoice.config import load_config

    overrides = [*args.set, *flag_overrides(args)]
    settings = load_config(args.config, overrides=overrides, registry=reg).inference
    return attrs.evolve(settings, voice=resolve_voice(settings.voice))


def open_engine(args: argparse.Namespace) -> tuple[Any, Any]:
    """The engine the settings and flags describe, and the settings."""
    from autovoice.inference import VoiceInferenceEngine

    reg = registry()
    settings = inference_settings(args, reg)
    extra = {key: getattr(args, flag) for flag, key in ENGINE_FLAGS.items()}
    engine = VoiceInferenceEngine.from_config(
        settings,
        registry=reg,
        vocoder=args.vocoder,
        **{key: value for key, value in extra.items() if value is not None},
    )
    return engine, settings


# -- the command -------------------------------------------------------------------------------


def controls(args: argparse.Namespace) -> dict[str, float]:
    """The pitch and energy controls given on the command line, by engine keyword."""
    given = {"pitch_shift": args.pitch_shift, "energy_scale": args.energy_scale}
    return {name: value for name, value in given.items() if value is not None}


def write_timestamps(path: str, text: str, timed: Any) -> None:
    """``--timestamps PATH``: the words and phonemes of ``text`` with their times, as JSON."""
    try:
        Path(path).write_text(json.dumps({"text": text, **timed.to_dict()}, indent=1) + "\n")
    except OSError as exc:
        raise AutovoiceError(f"{path}: cannot write the timestamps: {exc}") from exc


def synthesize_texts(args: argparse.Namespace, engine: Any, settings: Any) -> list[Any]:
    """The waveform of each text; with ``--timestamps`` the text's words and phonemes are
    written too (one text only, synthesized a sentence at a time)."""
    texts = read_texts(args)
    if args.timestamps is None:
        return list(
            engine.synthesize_many(
                texts, speaker_id=settings.speaker, batch_size=settings.batch_size,
                pace=settings.pace, **controls(args),
            )
        )  # fmt: skip
    timed = engine.synthesize_timed(
        texts[0], speaker_id=settings.speaker, pace=settings.pace, **controls(args)
    )
    write_timestamps(args.timestamps, texts[0], timed)
    return [timed.audio]


def run(args: argparse.Namespace) -> int:
    kind = stream_kind(args)
    if args.timestamps is not None and args.per_line:
        raise AutovoiceError("--timestamps writes the times of one text: not with --per-line")
    if kind == RAW and args.per_line:
        return stream_lines(args)
    engine, settings = open_engine(args)
    waves = synthesize_texts(args, engine, settings)
    report = sys.stdout if kind is None else sys.stderr
    if kind is None:
        write_files(args, engine, waves, report)
    else:
        write_stream(engine, waves[0], kind)
    if args.verbose:
        print_details(engine, kind, report)
    return 0


def write_files(
    args: argparse.Namespace, engine: Any, waves: Sequence[Any], report: TextIO
) -> None:
    from autovoice.audio.io import write_audio

    paths = numbered_paths(args.output, len(waves)) if args.per_line else [Path(args.output)]
    for path, wave in zip(paths, waves, strict=True):
        write_audio(path, wave, engine.sample_rate)
        print(f"{path}: {len(wave) / engine.sample_rate:.2f} s", file=report)


def stream_lines(args: argparse.Namespace) -> int:
    """``--output-raw --per-line``: each line spoken and written as soon as it is read, so a
    player starts while later lines are still coming."""
    engine, settings = open_engine(args)
    if args.verbose:
        print_details(engine, RAW, sys.stderr, timing=False)
    for text in utterances(read_lines(args), text_source(args)):
        wave = engine.synthesize_speech(
            text, settings.speaker, settings.batch_size, settings.pace, **controls(args)
        )
        write_stream(engine, wave, RAW)
    return 0


def print_details(engine: Any, kind: str | None, report: TextIO, timing: bool = True) -> None:
    """``--verbose``: the stream's sample format, each stage's backend, the real-time factor."""
    rate = engine.sample_rate
    if kind == RAW:
        print(
            f"raw PCM: {rate} Hz, 16-bit signed little-endian, mono "
            f"(aplay -r {rate} -f S16_LE -c 1 -t raw)",
            file=report,
        )
    elif kind == WAV:
        print(f"WAV on standard output: {rate} Hz, 16-bit, mono", file=report)
    for name, info in engine.describe()["stages"].items():
        print(f"{name}: {info['backend']} ({info['artifact']} on {info['device']})", file=report)
    last = engine.last_timing
    if timing and last is not None:
        print(
            f"{last.audio_seconds:.2f} s of audio in {last.seconds:.3f} s: real-time factor "
            f"{last.rtf:.3f} (acoustic {last.acoustic_seconds:.3f} s, vocoder "
            f"{last.vocoder_seconds:.3f} s)",
            file=report,
        )


# -- the parser --------------------------------------------------------------------------------


def thread_count(text: str) -> int:
    """An argparse type for ``--threads N``: 0 (the backend decides) up to the CPUs this
    process may use."""
    from autovoice.inference.checks import threads

    try:
        return threads(int(text), "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    except AutovoiceError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(": ")) from None


def _within(cast: type[int | float], low: float, high: float = float("inf")) -> Any:
    """An argparse type: ``cast(text)`` when it lies in ``[low, high]`` (finite)."""

    def parse(text: str) -> int | float:
        value = cast(text)
        if not low <= value <= high or value == float("inf"):
            bound = f">= {low}" if high == float("inf") else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


EPILOG = """\
examples:
  autovoice synthesize "Hello there. How are you?" -o hello.wav
  echo "Text from a pipe." | autovoice synthesize -o piped.flac
  autovoice synthesize --file chapter.txt -o chapter.mp3 --max-chars 50000
  autovoice synthesize --file lines.txt --per-line -o line.wav   # line-0001.wav, ...
  autovoice synthesize "Hello." -o - | sox -t wav - -n stat
  autovoice synthesize "Hello." --output-raw | aplay -r 22050 -f S16_LE -c 1 -t raw
  autovoice synthesize "Say [[ h ə l oʊ ]]." -o hi.wav --pitch-shift 2 --timestamps hi.json

-o picks the format by extension: .wav, .flac, .ogg (Vorbis), .mp3 (when libsndfile has it),
.raw (16-bit little-endian PCM, no header). The shipped voice speaks at 22050 Hz; --verbose
prints the rate of the voice used.
"""


def _add_text_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "text", nargs="?", metavar="TEXT", help='text to speak; none or "-": standard input'
    )
    parser.add_argument("--file", metavar="PATH", help='read the text from PATH ("-": stdin)')
    parser.add_argument(
        "--per-line",
        action="store_true",
        help="one utterance and file per non-blank line: -o out.wav writes out-0001.wav, "
        "out-0002.wav, ... (default: all the text in one file)",
    )
    output = parser.add_mutually_exclusive_group(required=True)
    output.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help='audio file (.wav .flac .ogg .mp3 .raw); "-": WAV to stdout',
    )
    output.add_argument(
        "--output-raw",
        action="store_true",
        help="raw 16-bit little-endian mono PCM to stdout (with --per-line, each line as soon "
        "as it is spoken)",
    )


def _add_voice_options(parser: argparse.ArgumentParser) -> None:
    from autovoice.inference.head_stage import vocoder_choices

    parser.add_argument(
        "--voice",
        metavar="VOICE",
        help="voice bundle (directory or .tar), a voice's name in the user voices folder, or "
        "default (the shipped voice, or $AUTOVOICE_VOICE); default when omitted",
    )
    parser.add_argument(
        "--backend", metavar="NAME", help='backend of both stages, "a,b" to fall back, or auto'
    )
    parser.add_argument("--acoustic-backend", metavar="NAME", help="backend of the acoustic stage")
    parser.add_argument("--vocoder-backend", metavar="NAME", help="backend of the vocoder stage")
    parser.add_argument(
        "--vocoder",
        choices=vocoder_choices(),
        default="bundle",
        help="the bundle's vocoder (default), or a head that voices the mel by itself "
        "(griffin_lim: Griffin-Lim computed from the mel)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help="inference device; cuda on a machine without a GPU warns and runs on the CPU",
    )
    parser.add_argument(
        "--threads", type=thread_count, metavar="N", help="CPU threads per stage (at most the CPUs)"
    )


def _add_speech_options(parser: argparse.ArgumentParser) -> None:
    from autovoice.inference.checks import CONTROL_RANGES, PACE_RANGE
    from autovoice.inference.engine import MAX_CHARS, SENTENCE_PAUSE

    parser.add_argument("--speaker", type=int, metavar="N", help="speaker id")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument(
        "--pace", type=float, metavar="X", help="speaking rate: above 1 is faster (default 1)"
    )
    rate.add_argument(
        "--length-scale",
        type=_within(float, *PACE_RANGE),
        metavar="X",
        help="durations times X: above 1 is slower; --length-scale X is --pace 1/X",
    )
    parser.add_argument(
        "--pitch-shift",
        type=_within(float, *CONTROL_RANGES["pitch_shift"]),
        metavar="SEMITONES",
        help="raise (or, negative, lower) the voice's pitch by this many semitones (default 0)",
    )
    parser.add_argument(
        "--energy-scale",
        type=_within(float, *CONTROL_RANGES["energy_scale"]),
        metavar="X",
        help="the predicted loudness times X: above 1 is louder, more forceful (default 1)",
    )
    parser.add_argument(
        "--lexicon",
        metavar="FILE",
        help="words and their phonemes, one word<TAB>phonemes a line (phonemes as in "
        "[[ h ə l oʊ ]] in the text)",
    )
    parser.add_argument(
        "--timestamps",
        metavar="OUT.json",
        help="write each word's and phoneme's start and end (seconds into the audio) to OUT.json",
    )
    parser.add_argument(
        "--sentence-silence",
        type=_within(float, 0.0),
        metavar="SECONDS",
        help=f"silence between sentences (default {SENTENCE_PAUSE})",
    )
    parser.add_argument(
        "--max-chars",
        type=_within(int, 1),
        metavar="N",
        help=f"longest text accepted, per line with --per-line (default {MAX_CHARS})",
    )
    parser.add_argument("--batch-size", type=int, metavar="N", help="sentences per batch")


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "synthesize",
        help="speak text with a voice bundle",
        description="Speak text with a voice bundle: TEXT, --file PATH or standard input.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_text_options(parser)
    _add_voice_options(parser)
    _add_speech_options(parser)
    parser.add_argument("--config", metavar="FILE", help="take [inference] settings from FILE")
    add_set_option(parser)
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print the backends, the real-time factor and the sample rate of a stream",
    )
    parser.set_defaults(func=run)
