"""``autovoice corpus ACTION``: make and inspect corpora; each action is one small function."""

from __future__ import annotations

import argparse
from typing import Any


def _made(report: Any, who: str, sep: str = ", ") -> int:
    """Print what a corpus maker made (``who``: its speakers or teacher); exit status 0."""
    print(
        f"{report.out_dir}: {report.utterances} utterances{sep}{who}, "
        f"{report.hours * 60:.1f} min of audio, made in {report.seconds:.1f} s"
    )
    return 0


def _add_maker(actions: Any, name: str, help: str, description: str) -> Any:
    """The parser of a corpus maker, with its OUT_DIR argument."""
    p = actions.add_parser(name, help=help, description=description)
    p.add_argument("out_dir", metavar="OUT_DIR", help="new or empty folder to write")
    return p


def _add_seed_and_rate(p: Any, seed_help: str) -> None:
    p.add_argument("--seed", type=int, default=0, metavar="S", help=seed_help)
    p.add_argument(
        "--sample-rate", type=int, default=22050, metavar="SR", help="Hz (default: 22050)"
    )


def demo(args: argparse.Namespace) -> int:
    from autovoice.corpus import make_demo_corpus

    report = make_demo_corpus(
        args.out_dir,
        speakers=args.speakers,
        sentences=args.sentences,
        seed=args.seed,
        sample_rate=args.sample_rate,
        workers=args.workers,
        progress=True,
    )
    return _made(report, f"{report.speakers} speakers")


def add_demo(actions: Any) -> None:
    p = _add_maker(
        actions,
        "demo",
        help="speak the built-in sentences with eSpeak NG voices into OUT_DIR",
        description="Make a small multi-speaker English corpus with eSpeak NG: every built-in "
        "sentence spoken by every speaker, in LJSpeech and JSONL manifest layouts.",
    )
    p.add_argument("--speakers", type=int, default=4, metavar="N", help="voices (default: 4)")
    p.add_argument(
        "--sentences", type=int, default=None, metavar="N", help="first N sentences (default: all)"
    )
    _add_seed_and_rate(p, "speaker settings (default: 0)")
    p.add_argument(
        "--workers", type=int, default=None, metavar="N", help="processes (default: one per CPU)"
    )
    p.set_defaults(func=demo)


def distill(args: argparse.Namespace) -> int:
    from autovoice.corpus.distill import make_distilled_corpus

    report = make_distilled_corpus(
        args.out_dir,
        teacher=args.teacher,
        generated=args.generated,
        builtin=not args.no_builtin,
        seed=args.seed,
        sample_rate=args.sample_rate,
        threads=args.threads,
        progress=True,
    )
    return _made(report, f"by {report.teacher}", sep=" ")


def add_distill(actions: Any) -> None:
    p = _add_maker(
        actions,
        "distill",
        help="have a teacher voice read thousands of sentences into OUT_DIR",
        description="Make a single-speaker English corpus spoken by an existing TTS voice: the "
        "built-in sentences plus sentences drawn from autovoice's grammar, never the held-out "
        "evaluation sentences. The teacher 'hibari' needs: pip install 'autovoice[teacher]'.",
    )
    p.add_argument("--teacher", default="hibari", metavar="NAME", help="hibari or module:factory")
    p.add_argument(
        "--generated", type=int, default=3000, metavar="N", help="grammar sentences (default 3000)"
    )
    p.add_argument("--no-builtin", action="store_true", help="leave out the built-in sentences")
    _add_seed_and_rate(p, "grammar seed (default: 0)")
    p.add_argument("--threads", type=int, default=2, metavar="N", help="teacher threads")
    p.set_defaults(func=distill)


def _check_data(target: str, overrides: list[str]) -> Any:
    """The ``[data]`` section to check: from a config file, or the defaults for a corpus path."""
    from pathlib import Path

    from autovoice.config import load_config, parse_config

    if Path(target).suffix == ".toml":
        from autovoice.commands.plugins import registry

        return load_config(target, overrides=overrides, registry=registry()).data
    return parse_config({"data": {"corpus": target}}, overrides=overrides).data


def _report_lines(report: Any) -> list[str]:
    d = report.durations
    speakers = ", ".join(f"{name} {n}" for name, n in report.speakers.items())
    lines = [
        f"{report.corpus} ({report.format})",
        f"  utterances: {report.utterances}, hours: {report.hours:.3f}, "
        f"speakers: {len(report.speakers)}",
        f"  durations (s): min {d.min:.2f}, median {d.median:.2f}, mean {d.mean:.2f}, "
        f"max {d.max:.2f}",
        f"  per speaker: {speakers or 'none'}",
        f"  bad samples: {len(report.bad)}",
    ]
    examples = report.examples()
    for reason, count in report.counts().items():
        lines.append(f"    {reason}: {count}")
        lines += [f"      {sample}" for sample in examples[reason]]
    return lines


def check(args: argparse.Namespace) -> int:
    import json

    from autovoice.data.reader import scan_corpus

    data = _check_data(args.target, args.set)
    report = scan_corpus(data).report
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("\n".join(_report_lines(report)))
    fails = (bool(report.bad) and data.on_bad_sample == "error") or not report.utterances
    return 1 if fails else 0


def add_check(actions: Any) -> None:
    from autovoice.commands.config import add_set_option

    p = actions.add_parser(
        "check",
        help="validate a corpus and summarize it: hours, speakers, lengths, bad files",
        description="Read every line and every audio header of a corpus (a config file's "
        "data.corpus, or a corpus folder or manifest given directly) and report what training "
        "would use and what it would reject, with file and line. Exits 1 when bad samples "
        'would stop training (data.on_bad_sample = "error") or nothing is usable.',
    )
    p.add_argument("target", metavar="CONFIG|DIR", help="config file (.toml) or corpus path")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_set_option(p)
    p.set_defaults(func=check)


def register(sub: Any) -> None:
    parser = sub.add_parser("corpus", help="make or inspect a speech corpus")
    actions = parser.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    add_demo(actions)
    add_distill(actions)
    add_check(actions)
