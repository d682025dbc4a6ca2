"""The path every platform API request takes: latency -> fault draw -> lifecycle catch-up ->
authentication -> rate limit -> handler -> drift -> validation -> stats.

Handlers are plain synchronous functions run on the event loop, so a state change is never interleaved
with another request (and never runs in Starlette's thread pool).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_transfers.sandbox import faults
from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.reply import EMPTY, Reply
from airflow_provider_transfers.sandbox.spec_validation import NO_BODY
from airflow_provider_transfers.sandbox.state import SandboxState


@dataclass
class Ctx:
    request: Request
    state: SandboxState
    identity: str
    """Twilio account SID or VoIPbin customer id (empty for unauthenticated endpoints)."""
    body: bytes
    now_us: int

    @property
    def params(self) -> dict[str, Any]:
        return self.request.path_params

    @property
    def base_url(self) -> str:
        return str(self.request.base_url).rstrip("/")


Handler = Callable[[Ctx], Reply]


class PlatformAdapter(Protocol):
    platform: str
    malformed_key: str

    def authenticate(self, request: Request, state: SandboxState) -> str | Reply: ...

    def rate_key(self, identity: str, endpoint: str) -> Hashable: ...

    def rate(self, config: SandboxConfig) -> tuple[float, float]: ...

    def too_many_requests(self, config: SandboxConfig, retry_after: int | None) -> Reply: ...

    def internal_error(self, config: SandboxConfig) -> Reply: ...


def state_of(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def platform_route(
    adapter: PlatformAdapter, method: str, template: str, handler: Handler, *, auth: bool = True
) -> Route:
    endpoint_name = f"{method} {template}"
    platform = adapter.platform

    async def endpoint(request: Request) -> Response:
        state = state_of(request)
        config = state.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        fault = state.faults.draw(config.faults)
        if fault is not None:
            state.stats.record_fault(fault)
            if fault == "reset":
                state.stats.record(platform, endpoint_name, "reset")
                await faults.drop_connection(request.scope)
                return Response(status_code=500)
            reply = await _fault_reply(fault, adapter, config)
            state.stats.record(platform, endpoint_name, str(reply.status))
            return reply.to_response()

        body = await request.body()
        now = state.advance()
        identity = _authorize(adapter, request, state, auth, endpoint_name)
        reply = handler(Ctx(request, state, identity, body, now)) if isinstance(identity, str) else identity
        if 200 <= reply.status < 300 and state.drift.active(platform):
            reply.body = state.drift.apply(platform, reply.body)
        validator = state.validator
        if validator is not None and reply.raw is None:
            found = validator.violations(
                platform,
                method,
                template,
                request.url.path,
                reply.status,
                NO_BODY if reply.body is EMPTY else reply.body,
            )
            if found:
                state.record_violations([f.to_dict() for f in found])
        state.stats.record(platform, endpoint_name, str(reply.status))
        return reply.to_response()

    return Route(template, endpoint, methods=[method], name=endpoint_name)


def _authorize(
    adapter: PlatformAdapter, request: Request, state: SandboxState, auth: bool, endpoint: str
) -> str | Reply:
    """The caller's identity, or the 400/401/429 reply that stops the request."""
    if not auth:
        return ""
    identity = adapter.authenticate(request, state)
    if isinstance(identity, Reply):
        return identity
    config = state.config
    if config.rate_limits_enabled:
        rate, burst = adapter.rate(config)
        wait = state.limiter.acquire(adapter.rate_key(identity, endpoint), rate, burst)
        if wait is not None:
            return adapter.too_many_requests(config, wait if config.retry_after else None)
    return identity


async def _fault_reply(kind: str, adapter: PlatformAdapter, config: SandboxConfig) -> Reply:
    if kind == "429":
        return adapter.too_many_requests(config, 1 if config.retry_after else None)
    if kind == "500":
        return adapter.internal_error(config)
    if kind == "502":
        return faults.bad_gateway()
    if kind == "503":
        return faults.unavailable()
    if kind == "malformed":
        return faults.malformed(adapter.malformed_key)
    await asyncio.sleep(config.slow_delay_s)
    return faults.gateway_timeout()
