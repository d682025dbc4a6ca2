"""VoIPbin endpoints: ``/v1.0/transfers``, calls, groupcalls, and ``/auth/login`` beside ``/v1.0``.

Answers follow ``bin-api-manager`` in ``voipbin/monorepo`` at commit ``2bf22fa4e87d077a69442aa02f74b0c18e2915dd``
(paths below relative to ``bin-api-manager/``). With ``voipbin_wire=legacy`` they follow the server before
its April 2026 error rework (commit ``43fbfc6212c4224bfa5c8c594740a3c027ed311c``): every handler error was a
bare 400 (``server/calls.go``, ``server/transfers.go``: ``c.AbortWithStatus(400)``), every authentication
failure a bare 401 (``lib/middleware/authenticate.go``), a malformed query parameter oapi-codegen's default
``{"msg": ...}`` 400.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Hashable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from airflow_provider_transfers.sandbox import tokens
from airflow_provider_transfers.sandbox.clock import parse_voipbin_time, voipbin_page_token
from airflow_provider_transfers.sandbox.config import VOIPBIN, SandboxConfig
from airflow_provider_transfers.sandbox.ids import NIL_UUID, is_uuid
from airflow_provider_transfers.sandbox.pipeline import Ctx, Handler, platform_route
from airflow_provider_transfers.sandbox.reply import Reply, json_reply
from airflow_provider_transfers.sandbox.state import SandboxState
from airflow_provider_transfers.sandbox.voipbin_calls import Call, Groupcall
from airflow_provider_transfers.sandbox.voipbin_state import VoipbinStore
from airflow_provider_transfers.sandbox.voipbin_transfers import TransferRefused

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
_ADDRESS_FIELDS = ("type", "target", "target_name", "name", "detail")


def request_id() -> str:
    """``req_`` + 26 base32 characters (lib/middleware/request_id.go:102-111)."""
    return "req_" + "".join(_request_ids.choice(_BASE32) for _ in range(26))


def voipbin_error(
    code: int,
    reason: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> Reply:
    """The envelope of lib/apierror/envelope.go:19-38: ``details`` only when non-empty."""
    rid = request_id()
    error: dict[str, Any] = {"status": _STATUS_BY_CODE[code], "reason": reason, "message": message, "request_id": rid}
    if details:
        error["details"] = details
    return json_reply(code, {"error": error}, {**(headers or {}), "X-Request-Id": rid})


def _legacy(config: SandboxConfig) -> bool:
    return config.voipbin_wire == "legacy"


def refused(ctx: Ctx, code: int, reason: str, message: str) -> Reply:
    """A handler refusing the request: the envelope today, a bare 400 on the legacy wire."""
    return Reply(400) if _legacy(ctx.state.config) else voipbin_error(code, reason, message)


def _unauthenticated(config: SandboxConfig, reason: str, message: str) -> Reply:
    """lib/middleware/authenticate.go:46-69 (legacy: a bare 401 for any authentication failure)."""
    return Reply(401) if _legacy(config) else voipbin_error(401, reason, message)


def _token(request: Request) -> str:
    """lib/middleware/authenticate.go:295-323: ``token`` cookie, ``?token=``, then ``Authorization: Bearer``."""
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

        No credential: 401 ``AUTHENTICATION_REQUIRED``; a wrong, expired or unsigned one: 401
        ``INVALID_CREDENTIALS`` (the legacy wire: a bare 401 for both).
        """
        creds, config = state.credentials, state.config
        token = _token(request)
        if token:
            try:
                claims = tokens.decode(token.strip(), creds.jwt_secret, state.clock.now_us())
            except tokens.TokenError:
                return _unauthenticated(config, "INVALID_CREDENTIALS", "The provided credentials are invalid.")
            return tokens.customer_of(claims)
        key = request.cookies.get("accesskey") or request.query_params.get("accesskey")
        if not key:
            return _unauthenticated(config, "AUTHENTICATION_REQUIRED", "Authentication is required.")
        if key != creds.voipbin_access_key:
            return _unauthenticated(config, "INVALID_CREDENTIALS", "The provided credentials are invalid.")
        return creds.voipbin_customer_id

    def rate_key(self, identity: str, endpoint: str) -> Hashable:
        return (VOIPBIN, identity)

    def rate(self, config: SandboxConfig) -> tuple[float, float]:
        return config.voipbin_rate, config.voipbin_burst

    def too_many_requests(self, config: SandboxConfig, retry_after: int | None) -> Reply:
        """lib/middleware/customer_ratelimit.go:237-244: ``limited_by: customer``. Legacy: the first limiter's
        answer, without ``Retry-After`` (lib/middleware/ratelimit.go:70-80 at commit 4e720e6a)."""
        message = "Too many requests. Please try again later."
        if _legacy(config):
            return json_reply(429, {"error": "rate_limit_exceeded", "message": message})
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return voipbin_error(429, "RATE_LIMIT_EXCEEDED", message, headers, details=[{"limited_by": "customer"}])

    def internal_error(self, config: SandboxConfig) -> Reply:
        """An unexpected failure (legacy: gin's recovery, a bare 500)."""
        return Reply(500) if _legacy(config) else voipbin_error(500, "INTERNAL", "An internal error occurred.")


# --------------------------------------------------------------------------------------------- checks

_NOT_JSON = object()


def _json(ctx: Ctx) -> Any:
    try:
        return json.loads(ctx.body) if ctx.body.strip() else _NOT_JSON
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


def _string_or_null(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _transfer_body(raw: Any) -> dict[str, Any] | None:
    """What gin's ``BindJSON`` makes of the body (``server/transfers.go:44-53``): Go's ``encoding/json`` into
    ``PostTransfersJSONBody`` (gens/openapi_server/gen.go:7855-7863, ``CommonAddress`` at 2561-2576) fails on
    anything but an object (or ``null``) whose known fields have the declared types; ``None`` then."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return None
    if not _string_or_null(raw.get("transfer_type")) or not _string_or_null(raw.get("transferer_call_id")):
        return None
    addresses = raw.get("transferee_addresses")
    if addresses is not None and not isinstance(addresses, list):
        return None
    for address in addresses or []:
        if address is not None and not (
            isinstance(address, dict) and all(_string_or_null(address.get(k)) for k in _ADDRESS_FIELDS)
        ):
            return None
    return raw


def _address(raw: dict[str, Any] | None) -> dict[str, Any]:
    """``ConvertCommonAddress`` (server/main.go:28-43): absent fields become empty strings."""
    return {key: (raw or {}).get(key) or "" for key in _ADDRESS_FIELDS}


def _permitted(ctx: Ctx, owner: str) -> bool:
    """``hasPermission`` (pkg/servicehandler/etc.go:13-27): the caller's own customer, and the customer
    admin/manager permission (``voipbin_permission``)."""
    return ctx.state.config.voipbin_permission and owner == ctx.identity


def _call_of(ctx: Ctx, call_id: str) -> Call | Reply:
    """``callGet`` then ``hasPermission`` (pkg/servicehandler/call.go:30-41, 148-158): 404 ``CALL_NOT_FOUND``
    (pkg/callhandler/db.go:166-184 of bin-call-manager), 409 for a deleted call, 403 for another customer's."""
    call = ctx.state.voipbin.calls.get(call_id)
    if call is None:
        return refused(ctx, 404, "CALL_NOT_FOUND", "The call was not found.")
    if call.tm_delete is not None:
        return refused(ctx, 409, "STATE_INVALID", "The operation is invalid for the current resource state.")
    if not _permitted(ctx, call.customer_id):
        return refused(ctx, 403, "PERMISSION_DENIED", "You do not have permission to access this resource.")
    return call


def _groupcall_of(ctx: Ctx, groupcall_id: str) -> Groupcall | Reply:
    """pkg/servicehandler/groupcall.go:96-124: 404 ``GROUPCALL_NOT_FOUND`` (bin-call-manager
    pkg/groupcallhandler/db.go:121-136), 403 for another customer's groupcall."""
    groupcall = ctx.state.voipbin.groupcalls.get(groupcall_id)
    if groupcall is None:
        return refused(ctx, 404, "GROUPCALL_NOT_FOUND", "The group call was not found.")
    if not _permitted(ctx, groupcall.customer_id):
        return refused(ctx, 403, "PERMISSION_DENIED", "You do not have permission to access this resource.")
    return groupcall


def _path_id(ctx: Ctx) -> str | Reply:
    """server/calls.go:218-227 (and groupcalls.go): an id that is no UUID, or the nil UUID, is refused."""
    value = str(ctx.params["id"])
    if not is_uuid(value) or value == NIL_UUID:
        return refused(ctx, 400, "INVALID_ID", "The provided id is not a valid UUID.")
    return value


# --------------------------------------------------------------------------------------------- handlers


def create_transfer(ctx: Ctx) -> Reply:
    """server/transfers.go:24-69 and pkg/servicehandler/transfer.go:19-52: the body must bind (400
    ``INVALID_JSON_BODY``); the transferer call must exist (404 ``CALL_NOT_FOUND``; an id that is no UUID is
    the nil UUID, which exists nowhere), not be deleted (409) and be the customer's (403); everything else is
    the transfer manager's, which refuses with a 500 (bin-transfer-manager/pkg/listenhandler/
    v1_transfers.go:28-32 -> server/error_translate.go:94-95) - for a blind transfer after it hung the agent up."""
    body = _transfer_body(_json(ctx))
    if body is None:
        return refused(ctx, 400, "INVALID_JSON_BODY", "The request body is not valid JSON.")
    store = ctx.state.voipbin
    call_id = body.get("transferer_call_id") or ""
    call = _call_of(ctx, call_id if is_uuid(call_id) else NIL_UUID)
    if isinstance(call, Reply):
        return call
    addresses = [_address(a) for a in body.get("transferee_addresses") or []]
    try:
        kind = str(body.get("transfer_type") or "")
        transfer = store.manager.create(ctx.identity, kind, call, addresses, body, store.planner.plan(store.config))
    except TransferRefused:
        return refused(ctx, 500, "INTERNAL", "An internal error occurred.")
    return json_reply(200, store.render.transfer(transfer))


def _on_resource(
    resolve: Callable[[Ctx, str], Any],
    render: Callable[[VoipbinStore], Callable[[Any], dict[str, Any]]],
    act: Callable[[VoipbinStore, Any], None] | None = None,
) -> Handler:
    """A handler of ``/calls/{id}...`` or ``/groupcalls/{id}...``: the id checked, the resource found (or the
    refusal), ``act`` done on it, the resource rendered."""

    def handle(ctx: Ctx) -> Reply:
        resource_id = _path_id(ctx)
        resource = resource_id if isinstance(resource_id, Reply) else resolve(ctx, resource_id)
        if isinstance(resource, Reply):
            return resource
        store = ctx.state.voipbin
        if act is not None:
            act(store, resource)
        return json_reply(200, render(store)(resource))

    return handle


def _calls(store: VoipbinStore) -> Callable[[Call], dict[str, Any]]:
    return store.render.call


def _groupcalls(store: VoipbinStore) -> Callable[[Groupcall], dict[str, Any]]:
    return store.render.groupcall


fetch_call = _on_resource(_call_of, _calls)
hangup_call = _on_resource(_call_of, _calls, VoipbinStore.hangup_call)
"""pkg/servicehandler/call.go:329-365; hanging up an ended call returns it unchanged."""
delete_call = _on_resource(_call_of, _calls, VoipbinStore.delete_call)
"""pkg/servicehandler/call.go:270-301 -> bin-call-manager pkg/callhandler/call.go:13-49: hang up, then mark
deleted; every later request on the call is a 409 (call.go:36-38)."""
fetch_groupcall = _on_resource(_groupcall_of, _groupcalls)
hangup_groupcall = _on_resource(_groupcall_of, _groupcalls, VoipbinStore.hangup_groupcall)
"""pkg/servicehandler/groupcall.go:180-216: no status check, so an ended groupcall goes back to ``hangingup``
(bin-call-manager pkg/groupcallhandler/hangup.go:45-75)."""


def _page_size(ctx: Ctx) -> int | Reply:
    """server/calls.go:167-179: sizes outside 1..100 become 100; a value that is no integer is refused by the
    generated parameter binding (gens/openapi_server/gen.go:11662-11668) through server/error.go:117-139
    (legacy: oapi-codegen's default handler, ``{"msg": ...}``)."""
    raw = ctx.request.query_params.get("page_size")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        if _legacy(ctx.state.config):
            detail = f'error binding string parameter: strconv.ParseInt: parsing "{raw}": invalid syntax'
            return json_reply(400, {"msg": f"Invalid format for parameter page_size: {detail}"})
        return voipbin_error(400, "INVALID_REQUEST_PARAMETER", 'The parameter "page_size" has an invalid format.')
    return DEFAULT_PAGE_SIZE if not 0 < size <= MAX_PAGE_SIZE else size


def _list(ctx: Ctx, timeline: Any, render: Any) -> Reply:
    """Newest first; ``next_page_token`` is the last item's ``tm_create`` (empty on an empty page). The list
    checks the permission on the caller's own customer (pkg/servicehandler/call.go:185-188)."""
    size = _page_size(ctx)
    if isinstance(size, Reply):
        return size
    if not _permitted(ctx, ctx.identity):
        return refused(ctx, 403, "PERMISSION_DENIED", "You do not have permission to access this resource.")
    items = timeline.page(size, ctx.request.query_params.get("page_token", ""), parse_voipbin_time)
    items = [item for item in items if item.customer_id == ctx.identity]
    legacy = _legacy(ctx.state.config)
    token = voipbin_page_token(items[-1].tm_create, legacy) if items else ""
    return json_reply(200, {"result": [render(item) for item in items], "next_page_token": token})


def list_calls(ctx: Ctx) -> Reply:
    store = ctx.state.voipbin
    return _list(ctx, store.call_timeline, store.render.call)


def list_groupcalls(ctx: Ctx) -> Reply:
    store = ctx.state.voipbin
    return _list(ctx, store.groupcall_timeline, store.render.groupcall)


def login(ctx: Ctx) -> Reply:
    """lib/service/auth.go:37-80: a body that does not bind (both fields required) and a wrong username or
    password alike get a bare 400; the token is pkg/servicehandler/auth.go:14-49 (``type``, ``agent``, a
    string ``expire``, no ``exp``; legacy: no ``type``, ``expire`` as Go's ``Time.String()``)."""
    body = _json(ctx)
    creds = ctx.state.credentials
    fields = ("username", "password")
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body[k] for k in fields):
        return Reply(400)
    if body["username"] != creds.voipbin_username or body["password"] != creds.voipbin_password:
        return Reply(400)
    config = ctx.state.config
    agent = tokens.agent_claim(creds.voipbin_username, creds.voipbin_customer_id, config.voipbin_permission)
    token = tokens.login_token(agent, ctx.now_us, config.jwt_lifetime_s, creds.jwt_secret, legacy=_legacy(config))
    return json_reply(200, {"username": creds.voipbin_username, "token": token})


def routes() -> list[Route]:
    adapter = VoipbinAdapter()
    return [
        platform_route(adapter, "POST", TRANSFERS, create_transfer),
        platform_route(adapter, "GET", CALLS, list_calls),
        platform_route(adapter, "GET", CALL, fetch_call),
        platform_route(adapter, "DELETE", CALL, delete_call),
        platform_route(adapter, "POST", CALL_HANGUP, hangup_call),
        platform_route(adapter, "GET", GROUPCALLS, list_groupcalls),
        platform_route(adapter, "GET", GROUPCALL, fetch_groupcall),
        platform_route(adapter, "POST", GROUPCALL_HANGUP, hangup_groupcall),
        platform_route(adapter, "POST", LOGIN, login, auth=False),
    ]
