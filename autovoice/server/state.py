"""What every request of a server reads: its voices, settings and formats."""

from __future__ import annotations

import attrs
from starlette.requests import Request

from autovoice.server.settings import ServerSettings
from autovoice.server.voices import VoiceTable

__all__ = ["ServerState", "state_of"]


@attrs.frozen(kw_only=True)
class ServerState:
    """What every request reads: the voices, the settings and the formats on offer."""

    voices: VoiceTable
    settings: ServerSettings
    formats: tuple[str, ...]
    default_format: str


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


# -- errors ------------------------------------------------------------------------------------
