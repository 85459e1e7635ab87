"""``autovoice …``: a thin shell over the library.

The commands live in :mod:`autovoice.commands`. An :class:`AutovoiceError` becomes one message on
standard error and exit status 1; ``--debug`` shows the traceback instead. Warnings are one line
each on standard error, ``autovoice: warning: …`` (Python's own form, with the source line, under
``--debug``). A reader that closes the pipe early (``autovoice synthesize … -o - | head``) ends
the command quietly with status 141, as for other Unix tools.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from autovoice._version import __version__
from autovoice.commands import COMMAND_MODULES
from autovoice.errors import AutovoiceError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the signal


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


def _one_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for users: the message alone, one line, no source echoed."""
    text = " ".join(str(message).split())
    print(f"autovoice: warning: {text}", file=file if file is not None else sys.stderr)


@contextlib.contextmanager
def diagnostics(debug: bool) -> Iterator[None]:
    """Warnings shown as :func:`_one_line` while a command runs (Python's form under
    ``--debug``); the previous handler is back afterwards, so ``main`` can be called in-process."""
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = _one_line
        yield


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that flushing it at exit raises nothing more."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        target = sys.stdout.fileno()
        os.dup2(os.open(os.devnull, os.O_WRONLY), target)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        with diagnostics(args.debug):
            return func(args)
    except AutovoiceError as exc:
        if args.debug:
            raise
        print(f"autovoice: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("autovoice: interrupted", file=sys.stderr)
        return 130
