"""``autovoice serve``: voices over HTTP, OpenAI's speech API, streaming, and a web page.

Built on Starlette (the ASGI toolkit) and served by uvicorn: both small, async and well kept.
Synthesis is blocking and CPU-bound, so it runs on each voice's own threads
(:mod:`autovoice.server.voices`), never on the event loop. Needs the ``serve`` extra.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from autovoice.errors import AutovoiceError
from autovoice.server.settings import ServerSettings, is_local

__all__ = ["ServerSettings", "build_server", "is_local", "serving"]

STARTUP_TIMEOUT = 60.0


def build_server(settings: ServerSettings, registry: Any = None) -> Any:
    """A ``uvicorn.Server`` of the settings' voices (each opened now), ready to ``run()``.

    On SIGINT or SIGTERM it stops taking connections, lets requests in flight finish for up to
    ``settings.shutdown_timeout`` seconds, cancels what is left (no new sentence is started
    for it), then stops the voices' threads."""
    import uvicorn

    from autovoice.server.app import create_app
    from autovoice.server.voices import open_voices

    app = create_app(open_voices(settings, registry), settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        timeout_graceful_shutdown=max(round(settings.shutdown_timeout), 0),
        log_level="info",
    )
    return uvicorn.Server(config)


@contextlib.contextmanager
def serving(settings: ServerSettings, registry: Any = None) -> Iterator[str]:
    """A server of ``settings`` running on a thread of this process for the block: its base
    URL (``settings.port`` 0 takes a free port). Leaving the block shuts it down gracefully."""
    server = build_server(settings, registry)
    thread = threading.Thread(target=server.run, name="autovoice-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AutovoiceError(f"the server on {settings.host}:{settings.port} did not start")
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join()
