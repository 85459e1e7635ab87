"""``autovoice prepare CONFIG``: fill the feature cache before training, with a progress bar."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from autovoice.commands.config import add_set_option

SHOWN_ERRORS = 10


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # type: ignore[import-untyped]

    from autovoice.commands.plugins import registry
    from autovoice.config import load_config
    from autovoice.data.loading import FeatureSource, fill_cache
    from autovoice.data.reader import load_corpus

    config = load_config(args.config, overrides=args.set, registry=registry())
    source = FeatureSource.create(config.audio, config.data.cache_dir)
    corpus = load_corpus(config.data)
    outcomes: Counter[str] = Counter()
    errors: list[str] = []
    steps = fill_cache(source, corpus.utterances)
    for _, outcome in tqdm(steps, total=len(corpus.utterances), unit="utt", disable=args.quiet):
        if outcome in ("cached", "computed"):
            outcomes[outcome] += 1
        else:
            errors.append(outcome)
    print(
        f"{config.data.cache_dir}: {outcomes['computed']} computed, {outcomes['cached']} already "
        f"cached, {len(errors)} failed, {len(corpus.report.bad)} bad samples skipped"
    )
    for line in errors[:SHOWN_ERRORS]:
        print(f"  {line}", file=sys.stderr)
    if len(errors) > SHOWN_ERRORS:
        print(f"  ... and {len(errors) - SHOWN_ERRORS} more", file=sys.stderr)
    return 1 if errors else 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "prepare", help="compute the features of every utterance into data.cache_dir"
    )
    parser.add_argument("config", metavar="CONFIG", help="configuration file (TOML)")
    add_set_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
