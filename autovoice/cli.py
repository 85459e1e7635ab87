"""``autovoice …``: a thin shell over the library. Each command parses arguments, calls library
functions and prints. An :class:`AutovoiceError` becomes one message and a non-zero exit;
``--debug`` shows the traceback instead."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from autovoice._version import __version__
from autovoice.errors import AutovoiceError

EXIT_ERROR = 1
EXIT_USAGE = 2


def _registry() -> Any:
    from autovoice.plugins import Registry

    return Registry.discover()


def cmd_plugins(args: argparse.Namespace) -> int:
    from autovoice.plugins import describe_plugins

    rows = describe_plugins(_registry())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no plugins installed")
        return 0
    table = [["NAME", "KIND", "FROM", "STATUS"]]
    for row in rows:
        status = "available" if row["available"] else f"unavailable: {row['reason']}"
        table.append(
            [row["name"], row["kind"], f"{row['distribution']} {row['version']}".strip(), status]
        )
    widths = [max(len(line[i]) for line in table) for i in range(3)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[3]]))
    return 0


def _load(args: argparse.Namespace) -> Any:
    from autovoice.config import load_config

    return load_config(args.file, overrides=args.set, registry=_registry())


def cmd_config_check(args: argparse.Namespace) -> int:
    _load(args)
    print(f"{args.file}: ok")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    from autovoice.config import dump_toml

    print(dump_toml(_load(args)), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autovoice", description="Train text-to-speech voices and serve them fast."
    )
    parser.add_argument("--version", action="version", version=f"autovoice {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    plugins = sub.add_parser("plugins", help="list installed plugins and whether each is usable")
    plugins.add_argument("--json", action="store_true", help="print JSON for machines")
    plugins.set_defaults(func=cmd_plugins)

    config = sub.add_parser("config", help="check or show a configuration file")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    for name, func, helptext, need_file in (
        ("check", cmd_config_check, "report every problem in FILE, with its TOML path", True),
        ("show", cmd_config_show, "print the resolved config (defaults included) as TOML", False),
    ):
        p = config_sub.add_parser(name, help=helptext)
        p.add_argument("file", nargs=None if need_file else "?", metavar="FILE")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a setting, e.g. --set training.batch_size=8 (repeatable)",
        )
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except AutovoiceError as exc:
        if args.debug:
            raise
        print(f"autovoice: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
