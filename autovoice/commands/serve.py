"""``autovoice serve``: speak over HTTP with one or more voices (OpenAI's speech API, a web
page at ``/``). Listens on 127.0.0.1 unless ``--host`` says otherwise; another address warns,
and more loudly without an API key. The work lives in :mod:`autovoice.server`."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import Any

from autovoice.commands.synthesize import thread_count
from autovoice.errors import AutovoiceError

API_KEY_ENV = "AUTOVOICE_API_KEY"
NEEDS = ("starlette", "uvicorn")


def settings_of(args: argparse.Namespace) -> Any:
    """The server's settings from the flags (the key from ``$AUTOVOICE_API_KEY`` when no
    ``--api-key``)."""
    from autovoice.server import ServerSettings

    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV, "")
    return ServerSettings(
        voices=tuple(args.voice or ("default",)),
        host=args.host,
        port=args.port,
        api_key=key.strip() or None,
        queue_size=args.queue_size,
        workers=args.workers,
        max_chars=args.max_chars,
        max_body_bytes=args.max_body_bytes,
        retry_after=args.retry_after,
        shutdown_timeout=args.shutdown_timeout,
        backend=args.backend,
        device=args.device,
        threads=args.threads,
        lexicon=args.lexicon,
    )


def warn_if_open(settings: Any) -> None:
    from autovoice.server import is_local

    if is_local(settings.host):
        return
    print(
        f"autovoice: warning: listening on {settings.host}: other machines can reach this server"
        + (
            ""
            if settings.api_key
            else f"; anyone can, without an API key (--api-key or ${API_KEY_ENV})"
        ),
        file=sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise AutovoiceError(
            f"autovoice serve needs {', '.join(missing)}: pip install 'autovoice[serve]'"
        )
    from autovoice.commands.plugins import registry
    from autovoice.server import build_server

    settings = settings_of(args)
    warn_if_open(settings)
    build_server(settings, registry()).run()
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


EPILOG = """\
examples:
  autovoice serve                                   # the shipped voice on 127.0.0.1:8000
  autovoice serve --voice default --voice alto=~/voices/alto --port 5002
  AUTOVOICE_API_KEY=secret autovoice serve --host 0.0.0.0

then open http://127.0.0.1:8000/, or:
  curl -s localhost:8000/v1/audio/speech -H 'Content-Type: application/json' \\
    -d '{"model": "default", "input": "Hello there.", "response_format": "wav"}' -o hello.wav
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "serve",
        help="serve voices over HTTP (OpenAI's speech API, a web page)",
        description="Serve voices over HTTP: OpenAI's POST /v1/audio/speech, GET /v1/voices, "
        "GET /health and a page at / to type text and hear it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--voice",
        action="append",
        metavar="[NAME=]VOICE",
        help="a voice bundle or voice name to serve, repeatable; NAME= serves it under NAME "
        "(default: the bundle's name); default: the shipped voice",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (8000; 0: any free one)")
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"require 'Authorization: Bearer KEY' under /v1/ (default: ${API_KEY_ENV})",
    )
    parser.add_argument(
        "--queue-size",
        type=_positive,
        default=8,
        help="requests one voice holds, running and waiting; more get 503 (8)",
    )
    parser.add_argument(
        "--workers", type=_positive, default=1, help="synthesis threads per voice (1)"
    )
    parser.add_argument(
        "--max-chars", type=_positive, default=4096, help="longest input text (4096, as OpenAI)"
    )
    parser.add_argument(
        "--max-body-bytes", type=_positive, default=65536, help="largest request body (65536)"
    )
    parser.add_argument(
        "--retry-after", type=_positive, default=1, help="seconds a busy answer asks to wait (1)"
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=_not_negative,
        default=10.0,
        help="seconds requests in flight may finish in at shutdown before they are cut (10)",
    )
    parser.add_argument("--backend", default="auto", help="backend of every stage (auto)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--threads",
        type=thread_count,
        default=0,
        metavar="N",
        help="CPU threads per stage (0: backend's; at most the CPUs)",
    )
    parser.add_argument(
        "--lexicon",
        metavar="FILE",
        help="word<TAB>phonemes file: its words are spoken so by every voice",
    )
    parser.set_defaults(func=run)
