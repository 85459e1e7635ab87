"""``autovoice …``: a thin shell over the library.

The commands live in :mod:`autovoice.commands`. An :class:`AutovoiceError` becomes one message on
standard error and exit status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from autovoice._version import __version__
from autovoice.commands import COMMAND_MODULES
from autovoice.errors import AutovoiceError

EXIT_ERROR = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autovoice", description="Train text-to-speech voices and serve them fast."
    )
    parser.add_argument("--version", action="version", version=f"autovoice {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
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
        print("autovoice: interrupted", file=sys.stderr)
        return 130
