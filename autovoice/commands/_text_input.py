"""The text a command speaks: its ``TEXT`` argument, a file (``--file PATH``) or standard input
(no ``TEXT``, a ``TEXT`` of ``-``, or ``--file -``), whole or line by line.

Every failure is an :class:`AutovoiceError` naming where the text came from. Text is UTF-8
whatever the locale, from a file and from standard input alike: bytes that are not UTF-8 are an
error naming the line, never dropped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from autovoice.errors import AutovoiceError

__all__ = ["STDIN", "read_lines", "read_text", "text_source", "utterances"]

STDIN = "-"


def text_source(args: argparse.Namespace) -> str | None:
    """Where the text comes from: a file's path, ``-`` for standard input, None for ``TEXT``."""
    if args.file is not None and args.text is not None:
        raise AutovoiceError("give the text as an argument or with --file, not both")
    if args.file is not None:
        return str(args.file)
    return STDIN if args.text in (None, STDIN) else None


def _where(source: str | None) -> str:
    return "TEXT" if source is None else "standard input" if source == STDIN else source


def decode(data: bytes, where: str, line: int = 1) -> str:
    """``data`` as UTF-8 text; else an error naming ``where`` and the line (``line`` is the
    number of the first line in ``data``) of the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = line + data[: exc.start].count(b"\n")
        raise AutovoiceError(
            f"{where}: not UTF-8 text: byte 0x{data[exc.start]:02x} on line {at} cannot be "
            "decoded; save the text as UTF-8"
        ) from None


def _stdin() -> Any:
    """Standard input as bytes (its ``buffer``), or as text where it has no bytes under it."""
    if sys.stdin is None:
        raise AutovoiceError("no standard input to read the text from; give TEXT or --file")
    if sys.stdin.isatty():
        print(
            "autovoice: reading the text from standard input (end it with Ctrl-D)", file=sys.stderr
        )
    return getattr(sys.stdin, "buffer", sys.stdin)


def _decoded(stream: Any) -> Iterator[str]:
    """The lines of standard input, each decoded as UTF-8 as it is read."""
    for number, line in enumerate(stream, start=1):
        yield decode(line, _where(STDIN), number) if isinstance(line, bytes) else line


def read_text(args: argparse.Namespace) -> str:
    """All the text: the argument, or the contents of the file or of standard input."""
    source = text_source(args)
    if source is None:
        return str(args.text)
    try:
        data = _stdin().read() if source == STDIN else Path(source).read_bytes()
    except OSError as exc:
        raise AutovoiceError(f"{_where(source)}: cannot read the text: {exc}") from exc
    return decode(data, _where(source)) if isinstance(data, bytes) else str(data)


def read_lines(args: argparse.Namespace) -> Iterable[str]:
    """The text line by line; standard input is read lazily, a line at a time."""
    return _decoded(_stdin()) if text_source(args) == STDIN else read_text(args).splitlines()


def utterances(pieces: Iterable[str], source: str | None) -> Iterator[str]:
    """The non-blank ``pieces``, stripped, as they come; an error naming the source once all is
    read when there was none."""
    found = False
    try:
        for piece in pieces:
            if piece.strip():
                found = True
                yield piece.strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AutovoiceError(f"{_where(source)}: cannot read the text: {exc}") from exc
    if not found:
        raise AutovoiceError(
            f"{_where(source)}: no text in it; give TEXT, --file PATH, or text on standard input"
        )
