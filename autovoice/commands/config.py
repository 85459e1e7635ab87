"""``autovoice config check|show``: validate a config file, or print it resolved."""

from __future__ import annotations

import argparse
from typing import Any

from autovoice.commands.plugins import registry


def load(args: argparse.Namespace) -> Any:
    from autovoice.config import load_config

    return load_config(args.file, overrides=args.set, registry=registry())


def check(args: argparse.Namespace) -> int:
    load(args)
    print(f"{args.file}: ok")
    return 0


def show(args: argparse.Namespace) -> int:
    from autovoice.config import dump_toml

    print(dump_toml(load(args)), end="")
    return 0


def add_set_option(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE``, repeatable: the shared way commands override config settings."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set training.batch_size=8 (repeatable)",
    )


def register(sub: Any) -> None:
    parser = sub.add_parser("config", help="check or show a configuration file")
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    p = actions.add_parser("check", help="report every problem in FILE, with its TOML path")
    p.add_argument("file", metavar="FILE")
    add_set_option(p)
    p.set_defaults(func=check)
    p = actions.add_parser("show", help="print the resolved config (defaults included) as TOML")
    p.add_argument("file", nargs="?", metavar="FILE", help="config file; omitted: the defaults")
    add_set_option(p)
    p.set_defaults(func=show)
