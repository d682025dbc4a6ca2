"""VoIPbin endpoints: ``/v1.0/transfers``, calls, groupcalls, and ``/auth/login`` beside ``/v1.0``."""

from __future__ import annotations

import json
import random
from collections.abc import Hashable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from airflow_provider_transfers.sandbox import tokens
from airflow_provider_transfers.sandbox.clock import parse_voipbin_time, voipbin_page_token
from airflow_provider_transfers.sandbox.config import VOIPBIN, SandboxConfig
from airflow_provider_transfers.sandbox.ids import NIL_UUID, is_uuid
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

DEFAULT_PAGE_SIZE = 100
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
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_request_ids = random.Random()


def request_id() -> str:
    """``req_`` + 26 base32 characters (bin-api-manager/lib/middleware/request_id.go:102-111)."""
    return "req_" + "".join(_request_ids.choice(_BASE32) for _ in range(26))


def voipbin_error(
    code: int,
    reason: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> Reply:
    """The envelope of bin-api-manager/lib/apierror/envelope.go:19-38: ``details`` only when non-empty."""
    rid = request_id()
    error: dict[str, Any] = {"status": _STATUS_BY_CODE[code], "reason": reason, "message": message, "request_id": rid}
    if details:
        error["details"] = details
    return json_reply(code, {"error": error}, {**(headers or {}), "X-Request-Id": rid})


def _token(request: Request) -> str:
    """bin-api-manager/lib/middleware/authenticate.go:295-323: ``token`` cookie, ``?token=``, then
    ``Authorization: Bearer``."""
    token = request.cookies.get("token") or request.query_params.get("token")
    if token:
        return token
    _, bearer, rest = (request.headers.get("authorization") or "").partition("Bearer ")
    return rest if bearer else ""


class VoipbinAdapter:
    platform = VOIPBIN
    malformed_key = "id"

    def authenticate(self, request: Request, state: SandboxState) -> str | Reply:
        """authenticate.go:39-80: a token (JWT) wins over an access key (cookie or ``?accesskey=``).

        No credential: 401 ``AUTHENTICATION_REQUIRED`` (legacy wire: an empty 401, as before the April
        2026 error rework); a wrong one: 401 ``INVALID_CREDENTIALS``.
        """
        creds = state.credentials
        token = _token(request)
        if token:
            try:
                claims = tokens.decode(token.strip(), creds.jwt_secret, state.clock.now_us() / 1e6)
            except tokens.TokenError:
                return voipbin_error(401, "INVALID_CREDENTIALS", "The provided credentials are invalid.")
            return str(claims.get("customer_id", ""))
        key = request.cookies.get("accesskey") or request.query_params.get("accesskey")
        if not key:
            if state.config.voipbin_wire == "legacy":
                return Reply(401)
            return voipbin_error(401, "AUTHENTICATION_REQUIRED", "Authentication is required.")
        if key != creds.voipbin_access_key:
            return voipbin_error(401, "INVALID_CREDENTIALS", "The provided credentials are invalid.")
        return creds.voipbin_customer_id

    def rate_key(self, identity: str, endpoint: str) -> Hashable:
        return (VOIPBIN, identity)

    def rate(self, config: SandboxConfig) -> tuple[float, float]:
        return config.voipbin_rate, config.voipbin_burst

    def too_many_requests(self, retry_after: int | None) -> Reply:
        """bin-api-manager/lib/middleware/customer_ratelimit.go:237-244: ``limited_by: customer``."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        message = "Too many requests. Please try again later."
        return voipbin_error(429, "RATE_LIMIT_EXCEEDED", message, headers, details=[{"limited_by": "customer"}])

    def internal_error(self) -> Reply:
        return voipbin_error(500, "INTERNAL", "An internal error occurred.")


_NOT_JSON = object()


def _json(ctx: Ctx) -> Any:
    try:
        return json.loads(ctx.body) if ctx.body.strip() else _NOT_JSON
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


def _refused(why: str) -> Reply:
    """A transfer-manager refusal: its listen handler answers a bare 500 (bin-transfer-manager/pkg/
    listenhandler/v1_transfers.go:28-32), which the API turns into the generic INTERNAL envelope
    (bin-api-manager/server/error_translate.go:41-50). ``why`` is only the sandbox's own log of it."""
    del why
    return voipbin_error(500, "INTERNAL", "An internal error occurred.")


def _uuid_or_nil(value: Any) -> str:
    return value if isinstance(value, str) and is_uuid(value) else NIL_UUID


def _address(raw: Any) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    return {key: str(raw.get(key) or "") for key in ("type", "target", "target_name", "name", "detail")}


def create_transfer(ctx: Ctx) -> Reply:
    """bin-api-manager/server/transfers.go:24-69: only "is it JSON" is checked here (400
    ``INVALID_JSON_BODY``); the call must exist (404) and belong to the customer (403,
    servicehandler/transfer.go:33-42); everything else is the transfer manager's, which refuses with a
    500 (a bad ``transfer_type``, no conference, no transferee)."""
    body = _json(ctx)
    if not isinstance(body, dict) and body is not None:
        return voipbin_error(400, "INVALID_JSON_BODY", "The request body is not valid JSON.")
    body = body or {}
    store = ctx.state.voipbin
    call = store.calls.get(_uuid_or_nil(body.get("transferer_call_id")))
    if call is None:
        return voipbin_error(404, "RESOURCE_NOT_FOUND", "The requested resource was not found.")
    if call.customer_id != ctx.identity:
        return voipbin_error(403, "PERMISSION_DENIED", "You do not have permission to access this resource.")
    transfer_type = body.get("transfer_type")
    if transfer_type not in TRANSFER_TYPES:
        return _refused(f"transfer type not found: {transfer_type!r}")
    refusal = store.refusal(call)
    if refusal is not None:
        return _refused(refusal)
    raw = body.get("transferee_addresses")
    addresses = [_address(a) for a in raw] if isinstance(raw, list) else []
    if not addresses or any(a["type"] not in ADDRESS_TYPES or not a["target"] for a in addresses):
        return _refused("no usable transferee address")
    transfer = store.create_transfer(ctx.identity, transfer_type, call, addresses, body)
    return json_reply(200, store.render_transfer(transfer))


def _invalid_id() -> Reply:
    """bin-api-manager/server/calls.go:126-135 (and groupcalls.go): an id that is no UUID."""
    return voipbin_error(400, "INVALID_ID", "The provided id is not a valid UUID.")


def _call(ctx: Ctx) -> Any:
    call = ctx.state.voipbin.calls.get(ctx.params["id"])
    return call if call is not None and call.customer_id == ctx.identity else None


def _groupcall(ctx: Ctx) -> Any:
    groupcall = ctx.state.voipbin.groupcalls.get(ctx.params["id"])
    return groupcall if groupcall is not None and groupcall.customer_id == ctx.identity else None


def fetch_call(ctx: Ctx) -> Reply:
    if not is_uuid(ctx.params["id"]) or ctx.params["id"] == NIL_UUID:
        return _invalid_id()
    call = _call(ctx)
    if call is None:
        return voipbin_error(404, "CALL_NOT_FOUND", "The call does not exist")
    return json_reply(200, ctx.state.voipbin.render_call(call))


def hangup_call(ctx: Ctx) -> Reply:
    """Idempotent: hanging up an ended call returns it unchanged."""
    if not is_uuid(ctx.params["id"]) or ctx.params["id"] == NIL_UUID:
        return _invalid_id()
    call = _call(ctx)
    if call is None:
        return voipbin_error(404, "CALL_NOT_FOUND", "The call does not exist")
    ctx.state.voipbin.hangup_call(call)
    return json_reply(200, ctx.state.voipbin.render_call(call))


def fetch_groupcall(ctx: Ctx) -> Reply:
    if not is_uuid(ctx.params["id"]) or ctx.params["id"] == NIL_UUID:
        return _invalid_id()
    groupcall = _groupcall(ctx)
    if groupcall is None:
        return voipbin_error(404, "GROUPCALL_NOT_FOUND", "The groupcall does not exist")
    return json_reply(200, ctx.state.voipbin.render_groupcall(groupcall))


def hangup_groupcall(ctx: Ctx) -> Reply:
    """Idempotent: hanging up a groupcall that is already ending returns it unchanged."""
    if not is_uuid(ctx.params["id"]) or ctx.params["id"] == NIL_UUID:
        return _invalid_id()
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
    legacy = ctx.state.config.voipbin_wire == "legacy"
    token = voipbin_page_token(items[-1].tm_create, legacy) if items else ""
    return json_reply(200, {"result": [render(item) for item in items], "next_page_token": token})


def list_calls(ctx: Ctx) -> Reply:
    return _list(ctx, ctx.state.voipbin.call_timeline, ctx.state.voipbin.render_call)


def list_groupcalls(ctx: Ctx) -> Reply:
    return _list(ctx, ctx.state.voipbin.groupcall_timeline, ctx.state.voipbin.render_groupcall)


def login(ctx: Ctx) -> Reply:
    body = _json(ctx)
    if body is _NOT_JSON or not isinstance(body, dict):
        return voipbin_error(400, "INVALID_JSON_BODY", "The request body is not valid JSON.")
    if not isinstance(body.get("username"), str) or "password" not in body:
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
