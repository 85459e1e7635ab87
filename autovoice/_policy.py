"""The built-in backend policy for ``backend = "auto"``, registered last by the plugin manager."""

from __future__ import annotations

from collections.abc import Sequence

from autovoice.hookspecs import hookimpl
from autovoice.specs import BackendRequest, BackendSpec


def rank_backends(request: BackendRequest, candidates: Sequence[BackendSpec]) -> list[str]:
    """Candidates that fit the request, best first: preferred order, then by name.

    A backend fits when it accepts one of the artifacts on hand and runs on the requested device
    (``auto`` accepts any device).
    """
    fitting = [
        spec
        for spec in candidates
        if set(spec.accepts) & set(request.artifacts)
        and (request.device == "auto" or request.device in spec.devices)
    ]
    order = {name: i for i, name in enumerate(request.prefer)}
    fitting.sort(key=lambda spec: (order.get(spec.name, len(order)), spec.name))
    return [spec.name for spec in fitting]


@hookimpl(trylast=True)
def autovoice_select_backend(
    request: BackendRequest, candidates: Sequence[BackendSpec]
) -> str | None:
    ranked = rank_backends(request, candidates)
    return ranked[0] if ranked else None
