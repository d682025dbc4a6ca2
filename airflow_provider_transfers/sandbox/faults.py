"""Fault injection: a seeded draw per platform request, and the infrastructure-level replies.

Faults are decided before the request is handled, so a faulted request never changes state (a 500 on
create creates nothing). The platform-shaped ones (429, 500) are built by the platform adapters.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, MutableMapping
from typing import Any

from airflow_provider_transfers.sandbox.config import FAULT_KINDS
from airflow_provider_transfers.sandbox.reply import Reply

TRANSPORT_SCOPE_KEY = "transfer_sandbox.transport"
BAD_GATEWAY_HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
GATEWAY_TIMEOUT_HTML = b"<html><body><h1>504 Gateway Time-out</h1></body></html>"


class FaultInjector:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"faults-{seed}")

    def draw(self, rates: Mapping[str, float]) -> str | None:
        """One draw per request (only while some rate is set, so enabling faults is repeatable)."""
        if not rates:
            return None
        roll = self._rng.random()
        cumulative = 0.0
        for kind in FAULT_KINDS:
            cumulative += rates.get(kind, 0.0)
            if roll < cumulative:
                return kind
        return None


def bad_gateway() -> Reply:
    return Reply(502, raw=BAD_GATEWAY_HTML, media_type="text/html")


def unavailable() -> Reply:
    return Reply(503)


def gateway_timeout() -> Reply:
    """What a ``slow`` request finally gets, if the client is still waiting."""
    return Reply(504, raw=GATEWAY_TIMEOUT_HTML, media_type="text/html")


def malformed(first_key: str) -> Reply:
    return Reply(200, raw=f'{{"{first_key}": '.encode())


class TransportCapture:
    """Outermost ASGI wrapper: remembers the connection's transport so a ``reset`` fault can drop it.

    uvicorn's ``send`` is a bound method of its request cycle, which holds the transport.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None:
                scope[TRANSPORT_SCOPE_KEY] = transport
        await self.app(scope, receive, send)


class ConnectionResetFault(Exception):
    """Raised when the transport is unknown (non-uvicorn server): the server then drops the response."""


async def drop_connection(scope: Mapping[str, Any]) -> None:
    """Abort the TCP connection without a response; the client sees a connection/protocol error."""
    transport = scope.get(TRANSPORT_SCOPE_KEY)
    if transport is None:
        raise ConnectionResetFault("reset fault")
    transport.abort()
    # Let uvicorn see connection_lost, so the response we return afterwards is discarded silently.
    for _ in range(3):
        await asyncio.sleep(0)
