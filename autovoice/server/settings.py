"""What a server is started with: its voices, address, key and limits (frozen, checked)."""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs

__all__ = ["LOCAL_HOSTS", "ServerSettings", "is_local"]

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
OPENAI_MAX_CHARS = 4096
"""The longest ``input`` OpenAI's speech endpoint takes: the default of ``max_chars``."""


def is_local(host: str) -> bool:
    """Whether ``host`` listens on loopback only."""
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _whole(low: int) -> Any:
    """An integer field's validators: an int, at least ``low``."""
    return [attrs.validators.instance_of(int), attrs.validators.ge(low)]


@attrs.frozen(kw_only=True)
class ServerSettings:
    """How ``autovoice serve`` runs. ``voices`` are bundle paths or voice names, each
    optionally ``NAME=BUNDLE`` to serve it under ``NAME``. ``queue_size`` is how many requests
    one voice holds at once, running and waiting; one more is answered 503 with
    ``Retry-After: retry_after``. ``workers`` threads synthesize for each voice."""

    voices: tuple[str, ...] = ("default",)
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, validator=_whole(0))
    api_key: str | None = None
    queue_size: int = attrs.field(default=8, validator=_whole(1))
    workers: int = attrs.field(default=1, validator=_whole(1))
    max_chars: int = attrs.field(default=OPENAI_MAX_CHARS, validator=_whole(1))
    max_body_bytes: int = attrs.field(default=64 * 1024, validator=_whole(256))
    retry_after: int = attrs.field(default=1, validator=_whole(0))
    shutdown_timeout: float = attrs.field(default=10.0, validator=attrs.validators.ge(0.0))
    backend: str = "auto"
    device: str = "auto"
    threads: int = attrs.field(default=0, validator=_whole(0))
    lexicon: str | None = None
    """A ``word<TAB>phonemes`` file whose words every voice speaks as it says."""
