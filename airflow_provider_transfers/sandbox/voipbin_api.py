"""VoIPbin endpoints: ``/v1.0/transfers``, calls, groupcalls, and ``/auth/login`` beside ``/v1.0``."""

from __future__ import annotations

import json
import random
from collections.abc import Hashable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from airflow_provider_transfers.sandbox import tokens
from airflow_provider_transfers.sandbox.clock import parse_voipbin_time, voipbin_time
from airflow_provider_transfers.sandbox.config import VOIPBIN, SandboxConfig
from airflow_provider_transfers.sandbox.ids import is_uuid
from airflow_provider_transfers.sandbox.pipeline import Ctx, platform_route
from airflow_provider_transfers.sandbox.reply import Reply, json_reply
from airflow_provider_transfers.sandbox.state import SandboxState
from airflow_provider_transfers.sandbox.voipbin_state import ADDRESS_TYPES, TRANSFER_TYPES

PREFIX = "/v1.0"
TRANSFERS = f"{PREFIX}/transfers"
CALLS = f"{PREFIX}/calls"
CALL = f"{PREFIX}/calls/{{id}}"
CALL_HANGUP = f"{PREFIX}/calls/{{id}}/hangup"
GROUPCALLS = f"{PREFIX}/groupcalls"
GROUPCALL = f"{PREFIX}/groupcalls/{{id}}"
GROUPCALL_HANGUP = f"{PREFIX}/groupcalls/{{id}}/hangup"
LOGIN = "/auth/login"

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100

_STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_request_ids = random.Random()


def voipbin_error(code: int, reason: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = {
        "error": {
            "status": _STATUS_BY_CODE[code],
            "reason": reason,
            "message": message,
            "request_id": f"req_{_request_ids.getrandbits(64):016X}",
            "details": [],
        }
    }
    return json_reply(code, body, headers)


class VoipbinAdapter:
    platform = VOIPBIN
    malformed_key = "id"

    def authenticate(self, request: Request, state: SandboxState) -> str | Reply:
        """Bearer JWT, else ``accesskey`` cookie, else ``?accesskey=``; none at all is a bare 400."""
        creds = state.credentials
        header = request.headers.get("authorization")
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() == "bearer":
            try:
                claims = tokens.decode(token.strip(), creds.jwt_secret, state.clock.now_us() / 1e6)
            except tokens.TokenError as exc:
                return voipbin_error(401, exc.reason, "The token is invalid or has expired")
            return str(claims.get("customer_id", ""))
        key = request.cookies.get("accesskey") or request.query_params.get("accesskey")
        if key is None and header is not None:
            return voipbin_error(401, "INVALID_AUTHORIZATION", "Authorization must be 'Bearer <token>'")
        if key is None:
            return Reply(400)
        if key != creds.voipbin_access_key:
            return voipbin_error(401, "INVALID_ACCESS_KEY", "The access key is not valid")
        return creds.voipbin_customer_id

    def rate_key(self, identity: str, endpoint: str) -> Hashable:
        return (VOIPBIN, identity)

    def rate(self, config: SandboxConfig) -> tuple[float, float]:
        return config.voipbin_rate, config.voipbin_burst

    def too_many_requests(self, retry_after: int | None) -> Reply:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return voipbin_error(429, "RATE_LIMIT_EXCEEDED", "Too many requests; slow down", headers)

    def internal_error(self) -> Reply:
        return voipbin_error(500, "INTERNAL_ERROR", "An internal error occurred")


def _json(ctx: Ctx) -> Any:
    try:
        return json.loads(ctx.body) if ctx.body.strip() else None
    except (ValueError, UnicodeDecodeError):
        return None


def _invalid(field: str, message: str) -> Reply:
    return voipbin_error(400, f"INVALID_{field.upper()}", message)


def _validate_transfer_body(body: Any) -> Reply | None:
    if not isinstance(body, dict):
        return voipbin_error(400, "INVALID_REQUEST_BODY", "The request body must be a JSON object")
    if body.get("transfer_type") not in TRANSFER_TYPES:
        return _invalid("transfer_type", "transfer_type must be 'attended' or 'blind'")
    call_id = body.get("transferer_call_id")
    if not isinstance(call_id, str) or not is_uuid(call_id):
        return _invalid("transferer_call_id", "transferer_call_id must be a call UUID")
    addresses = body.get("transferee_addresses")
    if not isinstance(addresses, list) or not addresses:
        return _invalid("transferee_addresses", "transferee_addresses needs at least one address")
    for index, address in enumerate(addresses):
        if (
            not isinstance(address, dict)
            or address.get("type") not in ADDRESS_TYPES
            or not isinstance(address.get("target"), str)
            or not address["target"]
        ):
            return _invalid(
                "transferee_addresses",
                f"transferee_addresses[{index}] needs a known 'type' ({', '.join(ADDRESS_TYPES)}) and a 'target'",
            )
    return None


def _address(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": raw["type"],
        "target": raw["target"],
        "target_name": str(raw.get("target_name", "")),
        "name": str(raw.get("name", "")),
        "detail": str(raw.get("detail", "")),
    }


def create_transfer(ctx: Ctx) -> Reply:
    body = _json(ctx)
    problem = _validate_transfer_body(body)
    if problem is not None:
        return problem
    store = ctx.state.voipbin
    call = store.calls.get(body["transferer_call_id"])
    if call is None or call.customer_id != ctx.identity:
        return voipbin_error(404, "CALL_NOT_FOUND", "The transferer call does not exist")
    if call.status != "progressing":
        return voipbin_error(409, "CALL_STATE_INVALID", f"The transferer call is {call.status}; it must be progressing")
    addresses = [_address(a) for a in body["transferee_addresses"]]
    transfer = store.create_transfer(ctx.identity, body["transfer_type"], call, addresses, body)
    return json_reply(200, store.render_transfer(transfer))


def _call(ctx: Ctx) -> Any:
    call = ctx.state.voipbin.calls.get(ctx.params["id"])
    return call if call is not None and call.customer_id == ctx.identity else None


def _groupcall(ctx: Ctx) -> Any:
    groupcall = ctx.state.voipbin.groupcalls.get(ctx.params["id"])
    return groupcall if groupcall is not None and groupcall.customer_id == ctx.identity else None


def fetch_call(ctx: Ctx) -> Reply:
    call = _call(ctx)
    if call is None:
        return voipbin_error(404, "CALL_NOT_FOUND", "The call does not exist")
    return json_reply(200, ctx.state.voipbin.render_call(call))


def hangup_call(ctx: Ctx) -> Reply:
    """Idempotent: hanging up an ended call returns it unchanged."""
    call = _call(ctx)
    if call is None:
        return voipbin_error(404, "CALL_NOT_FOUND", "The call does not exist")
    ctx.state.voipbin.hangup_call(call)
    return json_reply(200, ctx.state.voipbin.render_call(call))


def fetch_groupcall(ctx: Ctx) -> Reply:
    groupcall = _groupcall(ctx)
    if groupcall is None:
        return voipbin_error(404, "GROUPCALL_NOT_FOUND", "The groupcall does not exist")
    return json_reply(200, ctx.state.voipbin.render_groupcall(groupcall))


def hangup_groupcall(ctx: Ctx) -> Reply:
    """Idempotent: hanging up a groupcall that is already ending returns it unchanged."""
    groupcall = _groupcall(ctx)
    if groupcall is None:
        return voipbin_error(404, "GROUPCALL_NOT_FOUND", "The groupcall does not exist")
    ctx.state.voipbin.hangup_groupcall(groupcall)
    return json_reply(200, ctx.state.voipbin.render_groupcall(groupcall))


def _page_size(ctx: Ctx) -> int:
    """Invalid sizes fall back to the default; sizes above 100 are capped."""
    try:
        size = int(ctx.request.query_params.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return DEFAULT_PAGE_SIZE if size <= 0 else min(size, MAX_PAGE_SIZE)


def _list(ctx: Ctx, timeline: Any, render: Any) -> Reply:
    """Newest first; ``next_page_token`` is the last item's ``tm_create`` (empty on an empty page)."""
    items = timeline.page(_page_size(ctx), ctx.request.query_params.get("page_token", ""), parse_voipbin_time)
    items = [item for item in items if item.customer_id == ctx.identity]
    token = voipbin_time(items[-1].tm_create) if items else ""
    return json_reply(200, {"result": [render(item) for item in items], "next_page_token": token})


def list_calls(ctx: Ctx) -> Reply:
    return _list(ctx, ctx.state.voipbin.call_timeline, ctx.state.voipbin.render_call)


def list_groupcalls(ctx: Ctx) -> Reply:
    return _list(ctx, ctx.state.voipbin.groupcall_timeline, ctx.state.voipbin.render_groupcall)


def login(ctx: Ctx) -> Reply:
    body = _json(ctx)
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) or "password" not in body:
        return voipbin_error(400, "INVALID_REQUEST_BODY", "username and password are required")
    creds = ctx.state.credentials
    if body["username"] != creds.voipbin_username or body["password"] != creds.voipbin_password:
        return voipbin_error(401, "INVALID_CREDENTIALS", "Wrong username or password")
    now_s = ctx.now_us // 1_000_000
    claims = {
        "username": creds.voipbin_username,
        "customer_id": creds.voipbin_customer_id,
        "iat": now_s,
        "exp": now_s + int(ctx.state.config.jwt_lifetime_s),
    }
    return json_reply(200, {"username": creds.voipbin_username, "token": tokens.encode(claims, creds.jwt_secret)})


def routes() -> list[Route]:
    adapter = VoipbinAdapter()
    return [
        platform_route(adapter, "POST", TRANSFERS, create_transfer),
        platform_route(adapter, "GET", CALLS, list_calls),
        platform_route(adapter, "GET", CALL, fetch_call),
        platform_route(adapter, "POST", CALL_HANGUP, hangup_call),
        platform_route(adapter, "GET", GROUPCALLS, list_groupcalls),
        platform_route(adapter, "GET", GROUPCALL, fetch_groupcall),
        platform_route(adapter, "POST", GROUPCALL_HANGUP, hangup_groupcall),
        platform_route(adapter, "POST", LOGIN, login, auth=False),
    ]
