"""VoIPbin transfers: ``VoipbinHook`` (connection type ``voipbin``).

VoIPbin offers ``POST /transfers`` and nothing else for transfers: no GET, no status, no event. The
hook derives a transfer's status from its groupcall and transferer call (``voipbin_status``), and
finishes or cancels a transfer by hanging up the transferer call or the groupcall.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar

import httpx
from airflow.sdk import Connection
from pydantic import BaseModel, BeforeValidator

from airflow_provider_transfers.connection_ui import VOIPBIN_UI
from airflow_provider_transfers.exceptions import (
    TransferApiError,
    TransferAuthError,
    TransferConfigError,
    TransferPermissionError,
    TransferProviderError,
    TransferValidationError,
)
from airflow_provider_transfers.hooks.base import ConnectionSettings, Plan, TransferHook, TransferRef, adrive, drive
from airflow_provider_transfers.hooks.voipbin_auth import AccessKeyAuth, JwtAuth
from airflow_provider_transfers.http.client import HttpPolicy, Request, fallback_message, json_error_fields
from airflow_provider_transfers.models import (
    VOIPBIN_NOT_DELETED_SENTINEL,
    TransferCheck,
    TransfereeAddress,
    VoipbinCall,
    VoipbinGroupcall,
    VoipbinTransfer,
    VoipbinTransferType,
)
from airflow_provider_transfers.validation import (
    MAX_ADDRESSES,
    MAX_DEPTH,
    PositiveInt,
    ResourceUuid,
    check_as,
    form_error,
    json_depth,
    parse_json_text,
    validate,
    validate_base_url,
    validate_model,
)
from airflow_provider_transfers.voipbin_status import (
    derive_voipbin_status,
    needs_answer_call,
    needs_customer_call,
    needs_transferer_call,
    nested_groupcalls_to_read,
)

DEFAULT_BASE_URL = "https://api.voipbin.net/v1.0"
API_VERSION_PATH = "/v1.0"
BUCKET = "customer"
"""VoIPbin limits requests per customer, so every request of a connection shares one bucket."""

BARE_400_HINT = (
    "VoIPbin servers before April 2026 answer every refusal of a request with a bare 400 and no body: the "
    "resource may not exist, belong to another customer or be deleted, or the transfer was refused"
)
CALL_STATE_HINT = (
    "VoIPbin's transfer manager refused the transfer: the transferer call must be answered (status "
    "'progressing', GET /calls/{id}) and in a conference with the customer, transfer_type must be 'attended' or "
    "'blind', and a single transferee address must be tel, sip, agent or extension (with target_name). A blind "
    "transfer's agent call may already be hung up: VoIPbin hangs it up before it rings anyone. A create is not "
    "retried after a 500: a second POST could start a second transfer"
)
PERMISSION_HINT = (
    "the connection's credentials are accepted (GET /calls answers them), so this one resource is refused: it "
    "belongs to another VoIPbin customer"
)
DELETED_HINT = "the call has been deleted (DELETE /calls/{id}); VoIPbin refuses every request on it"
CREDENTIALS_HINT = (
    "the connection's credentials lack VoIPbin's customer admin or manager permission (or the account is frozen)"
)
NOT_FOUND_HINT = "VoIPbin keeps transfers and their groupcalls for 24 hours; an older transfer can no longer be checked"
_VERSION_SEGMENT = re.compile(r"/v\d+(\.\d+)*$")


# --------------------------------------------------------------------------------------------- inputs


def validate_uuid(value: Any, field: str) -> str:
    """A VoIPbin resource id: a UUID (the whole value), not the nil UUID. Raises naming ``field``."""
    return str(validate(ResourceUuid, value, field))


TRANSFER_TYPE_EXPECTED = "'attended' or 'blind'"


def _transfer_type(value: Any) -> VoipbinTransferType:
    if isinstance(value, str) and value.lower() in {t.value for t in VoipbinTransferType}:
        return VoipbinTransferType(value.lower())
    raise form_error(TRANSFER_TYPE_EXPECTED)


TransferType = Annotated[VoipbinTransferType, BeforeValidator(_transfer_type)]


def validate_transfer_type(value: Any, field: str = "transfer_type") -> VoipbinTransferType:
    result: VoipbinTransferType = validate(TransferType, value, field)
    return result


@functools.cache
def _text_of(expected: str) -> Any:
    return Annotated[Any, BeforeValidator(lambda v: parse_json_text(v, what=expected, python_literals=True))]


def _parse_text(value: str, field: str, expected: str) -> Any:
    """JSON text, or the Python literal a Jinja ``{{ xcom }}`` renders a dict/list into (size/depth checked)."""
    return validate(_text_of(expected), value, field)


ADDRESSES_EXPECTED = "a non-empty list of addresses like [{'type': 'tel', 'target': '+15551234567'}]"


@functools.cache
def transferee_addresses(max_items: int = MAX_ADDRESSES) -> Any:
    """The type of ``transferee_addresses``: a list (or one mapping, or text of either) of at most
    ``max_items`` addresses, each a ``TransfereeAddress``."""

    def before(value: Any) -> list[Any]:
        if isinstance(value, str):
            value = parse_json_text(value, what=ADDRESSES_EXPECTED, python_literals=True)
        if isinstance(value, Mapping | BaseModel):
            value = [value]
        if not isinstance(value, list | tuple) or not value:
            raise form_error(ADDRESSES_EXPECTED)
        if len(value) > max_items:
            raise form_error(f"at most {max_items} addresses (raise max_addresses to allow more)")
        items = [v.model_dump(mode="json", exclude_none=True) if isinstance(v, BaseModel) else v for v in value]
        if json_depth(items) > MAX_DEPTH:
            raise form_error(f"addresses nested at most {MAX_DEPTH} levels deep")
        return items

    return Annotated[list[TransfereeAddress], BeforeValidator(before)]


def normalize_addresses(
    value: Any, field: str = "transferee_addresses", *, max_items: int = MAX_ADDRESSES
) -> list[dict[str, Any]]:
    """Transferee addresses as the request body needs them, each checked with ``TransfereeAddress``.

    Accepts a list of mappings (or one mapping), or JSON text of them (a rendered template); at most
    ``max_items`` of them.
    """
    addresses: list[TransfereeAddress] = validate(transferee_addresses(max_items), value, field)
    return [a.model_dump(mode="json", exclude_none=True) for a in addresses]


def coerce_transfer(value: Any, field: str = "transfer") -> dict[str, Any]:
    """The transfer's JSON as a dict: a mapping, a ``VoipbinTransfer``, or JSON text (a rendered XCom)."""
    expected = "the transfer JSON pushed by VoipbinCreateTransferOperator (a dict or JSON text)"
    if isinstance(value, VoipbinTransfer):
        return value.to_xcom()
    if isinstance(value, str):
        value = _parse_text(value, field, expected)
    if not isinstance(value, Mapping):
        raise TransferValidationError(field, expected, type(value).__name__)
    return dict(value)


class VoipbinTransferRef(TransferRef):
    """What a status check needs from a transfer's JSON, validated."""

    id: Annotated[str, BeforeValidator(lambda v: check_as(ResourceUuid, v))]
    type: TransferType
    groupcall_id: Annotated[str, BeforeValidator(lambda v: check_as(ResourceUuid, v))]
    transferer_call_id: Annotated[str, BeforeValidator(lambda v: check_as(ResourceUuid, v))]

    @property
    def transfer_id(self) -> str:
        return self.id


def transfer_ref(value: Any, field: str = "transfer") -> VoipbinTransferRef:
    transfer = coerce_transfer(value, field)
    fields = {name: transfer.get(name) for name in VoipbinTransferRef.model_fields}
    return validate_model(VoipbinTransferRef, fields, field, subscript=True)


def _call(method: str, call_id: str, action: str = "") -> Request:
    """A call read or hang-up (``call_id`` already validated)."""
    return Request(method, f"/calls/{call_id}{action}", VoipbinCall, "call", bucket=BUCKET)


def _groupcall(method: str, groupcall_id: str, action: str = "") -> Request:
    return Request(method, f"/groupcalls/{groupcall_id}{action}", VoipbinGroupcall, "groupcall", bucket=BUCKET)


# --------------------------------------------------------------------------------------------- errors


def _request_of(response: httpx.Response) -> httpx.Request | None:
    try:
        return response.request
    except RuntimeError:
        return None


def _hint(response: httpx.Response, reason: str | None) -> str | None:
    request = _request_of(response)
    path = request.url.path if request is not None else ""
    creating = request is not None and request.method == "POST" and path.endswith("/transfers")
    # Every transfer-manager refusal reaches the API as a 500 (voipbin/monorepo 2bf22fa4: bin-transfer-manager/
    # pkg/listenhandler/v1_transfers.go:28-32, bin-api-manager/server/transfers.go:61-65). A 409 (an RPC
    # conflict: FAILED_PRECONDITION STATE_INVALID, server/error_translate.go:85-86) or the CALL_STATE_INVALID
    # reason older deployments were documented with get the same hint.
    if reason == "CALL_STATE_INVALID" or (creating and response.status_code in (409, 500)):
        return CALL_STATE_HINT
    if response.status_code == 404 and re.search(r"/(groupcalls|calls)/[^/]+$", path):
        return NOT_FOUND_HINT
    if response.status_code == 409 and reason == "STATE_INVALID" and "/calls/" in path:
        return DELETED_HINT
    return None


def parse_voipbin_error(response: httpx.Response) -> dict[str, Any]:
    """The ``{"error": {status, reason, message, request_id, details}}`` envelope, a bare 400, or anything."""
    body = json_error_fields(response)
    error = body.get("error") if isinstance(body, dict) else None
    fields: dict[str, Any]
    if isinstance(error, dict):
        reason = error.get("reason") or error.get("status") or None
        details = error.get("details")
        fields = {
            "message": str(error.get("message") or error.get("status") or fallback_message(response)),
            "reason": str(reason) if reason else None,
            "request_id": str(error["request_id"]) if error.get("request_id") else None,
            "details": details if isinstance(details, list) else None,
        }
    elif response.status_code == 400 and not response.content:
        request = _request_of(response)
        creating = request is not None and request.method == "POST" and request.url.path.endswith("/transfers")
        return {"message": "Bad Request with an empty body", "hint": CALL_STATE_HINT if creating else BARE_400_HINT}
    elif isinstance(body, dict) and isinstance(body.get("message"), str):
        fields = {"message": body["message"]}
    else:
        fields = {"message": fallback_message(response)}
    fields["hint"] = _hint(response, fields.get("reason"))
    return fields


def _is_bad_credentials(exc: TransferApiError) -> bool:
    """401, or any refused login (``JwtAuth`` raises those with path ``/auth/login``)."""
    refused_login = isinstance(exc, TransferAuthError) and exc.path == "/auth/login"
    return exc.status_code == 401 or refused_login


_RESOURCE_PATH = re.compile(r"^/(calls|groupcalls)/[^/]+(/hangup)?$|^/transfers$")
_ERROR_FIELDS = ("platform", "status_code", "message", "method", "path", "code", "reason", "more_info", "request_id")
OWN_CALLS_PROBE = Request("GET", "/calls", params={"page_size": 1}, bucket=BUCKET)
"""The cheapest request the connection's own permission decides (bin-api-manager pkg/servicehandler/
call.go:185-188): the Test button's probe, and the witness that tells a refused resource from refused
credentials."""


def _resource_refusal(request: Request, exc: TransferApiError) -> bool:
    """A refusal that may concern only the resource: 403 ``PERMISSION_DENIED`` on a call, groupcall or transfer
    (bin-api-manager server/error_translate.go:62-63: another customer's resource, but also credentials without
    the admin/manager permission), or a bare 400 from a pre-April-2026 server there (any handler error)."""
    if not _RESOURCE_PATH.match(request.path) or isinstance(exc, TransferPermissionError):
        return False
    if exc.status_code == 403:
        return exc.reason == "PERMISSION_DENIED"
    return exc.status_code == 400 and exc.hint == BARE_400_HINT


def _recast(exc: TransferApiError, cls: type[TransferApiError], **changes: Any) -> TransferApiError:
    """``exc`` as ``cls``: the same answer, another meaning."""
    fields = {name: getattr(exc, name) for name in _ERROR_FIELDS}
    fields.update(details=exc.details, retry_after=exc.retry_after, hint=exc.hint)
    return cls(**{**fields, **changes})


def _settled(send: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """``send`` answering an error instead of raising it (for plans that weigh a failure)."""

    def settled(request: Request) -> Any:
        try:
            return send(request)
        except TransferProviderError as exc:
            return exc

    return settled


def _asettled(asend: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Any]]:
    async def settled(request: Request) -> Any:
        try:
            return await asend(request)
        except TransferProviderError as exc:
            return exc

    return settled


# --------------------------------------------------------------------------------------------- connection


def _base_url(conn: Connection) -> str:
    if not conn.host:
        return DEFAULT_BASE_URL
    url = httpx.URL(validate_base_url(conn.host, field="host"))
    if conn.port and url.port is None:
        url = url.copy_with(port=conn.port)
    if url.path in ("", "/"):
        url = url.copy_with(path=API_VERSION_PATH)
    return str(url).rstrip("/")


def login_url(base_url: str) -> str:
    """``https://api.voipbin.net/v1.0`` -> ``https://api.voipbin.net/auth/login`` (login sits beside the API)."""
    url = httpx.URL(base_url)
    root = _VERSION_SEGMENT.sub("", url.path.rstrip("/"))
    return str(url.copy_with(path=f"{root}/auth/login"))


class VoipbinHook(TransferHook):
    """Start VoIPbin transfers, read their groupcalls and calls, derive their status, hang them up.

    Connection (type ``voipbin``): either password = access key with login empty (sent as the
    ``accesskey`` cookie), or login = username and password (exchanged for a JWT). host = optional base
    URL (default ``https://api.voipbin.net/v1.0``); extra = the policy fields (``timeout``,
    ``max_attempts``, ``rate_limit``, ...).
    """

    platform = "voipbin"
    conn_type = "voipbin"
    conn_name_attr = "voipbin_conn_id"
    default_conn_name = "voipbin_default"
    hook_name = "VoIPbin"
    # Per customer: 16.7 requests/s with a burst of 33.
    connection_ui = VOIPBIN_UI
    check_bucket = BUCKET
    ref_model = VoipbinTransferRef
    default_policy: ClassVar[HttpPolicy] = HttpPolicy(rate_limit=16.7, rate_burst=33)

    def __init__(self, *args: Any, max_addresses: int | str = MAX_ADDRESSES, **kwargs: Any) -> None:
        """:param max_addresses: most transferee addresses one transfer may ring (default 100)."""
        self.max_addresses: int = validate(PositiveInt, max_addresses, "max_addresses")
        self._own_calls_readable = False
        self._costs: dict[str, float] = {}
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ requests: refused resources

    def send(self, request: Request) -> Any:
        try:
            return super().send(request)
        except TransferApiError as exc:
            error = drive(self._refusal_plan(request, exc), _settled(super().send))
            if error is exc:
                raise
            raise error from exc

    async def asend(self, request: Request) -> Any:
        try:
            return await super().asend(request)
        except TransferApiError as exc:
            error = await adrive(self._refusal_plan(request, exc), _asettled(super().asend))
            if error is exc:
                raise
            raise error from exc

    def _refusal_plan(self, request: Request, exc: TransferApiError) -> Plan[Exception]:
        """What a refused request means: a refusal of one resource (a row's problem: another customer's call
        or groupcall is a ``TransferPermissionError``) or of the connection's credentials (``TransferAuthError``,
        which stops a reconciliation). The answer alone cannot tell: credentials without the customer admin or
        manager permission get the same 403 ``PERMISSION_DENIED`` (bin-api-manager pkg/servicehandler/
        etc.go:13-27; before April 2026 the same bare 400). So the first such refusal asks ``GET /calls``, which
        only the credentials' own permission decides, once per hook."""
        if not _resource_refusal(request, exc):
            return exc
        if not self._own_calls_readable:
            probe = yield OWN_CALLS_PROBE
            if isinstance(probe, TransferApiError) and probe.status_code in (400, 401, 403):
                refused = f"{request.method} {request.path} and GET /calls are refused alike"
                return _recast(exc, TransferAuthError, hint=f"{refused}: {CREDENTIALS_HINT}")
            if isinstance(probe, Exception):
                return probe
            self._own_calls_readable = True
        if exc.status_code == 403:
            return _recast(exc, TransferPermissionError, hint=PERMISSION_HINT)
        return exc

    @staticmethod
    def parse_error(response: httpx.Response) -> dict[str, Any]:
        return parse_voipbin_error(response)

    @classmethod
    def settings_from_connection(cls, conn: Connection) -> ConnectionSettings:
        where = f"Connection {conn.conn_id!r}"
        username = (conn.login or "").strip()
        password = conn.password or ""
        if not password:
            raise TransferConfigError(
                f"{where}: password must hold a VoIPbin access key (with login empty), "
                "or the password of the username given in login"
            )
        base_url = _base_url(conn)
        auth: httpx.Auth = (
            JwtAuth(login_url(base_url), username, password) if username else AccessKeyAuth(password.strip())
        )
        return ConnectionSettings(
            base_url=base_url,
            auth=auth,
            secrets=(password,),
            details={"auth_mode": "jwt" if username else "accesskey", "username": username or None},
        )

    # ------------------------------------------------------------------ resources

    def transfer_body(
        self, transfer_type: VoipbinTransferType | str, transferer_call_id: str, transferee_addresses: Any
    ) -> dict[str, Any]:
        """The ``POST /transfers`` body, every field checked (raises before any request)."""
        return {
            "transfer_type": validate_transfer_type(transfer_type).value,
            "transferer_call_id": validate_uuid(transferer_call_id, "transferer_call_id"),
            "transferee_addresses": normalize_addresses(transferee_addresses, max_items=self.max_addresses),
        }

    def _create(self, transfer_type: Any, transferer_call_id: str, transferee_addresses: Any) -> Request:
        body = self.transfer_body(transfer_type, transferer_call_id, transferee_addresses)
        return Request("POST", "/transfers", VoipbinTransfer, "transfer", json=body, bucket=BUCKET, idempotent=False)

    def create_transfer(
        self, transfer_type: VoipbinTransferType | str, transferer_call_id: str, transferee_addresses: Any
    ) -> VoipbinTransfer:
        """Start a transfer. Not idempotent: retried only when VoIPbin cannot have acted (429/503/no connection)."""
        transfer: VoipbinTransfer = self.send(self._create(transfer_type, transferer_call_id, transferee_addresses))
        return transfer

    async def acreate_transfer(
        self, transfer_type: VoipbinTransferType | str, transferer_call_id: str, transferee_addresses: Any
    ) -> VoipbinTransfer:
        request = self._create(transfer_type, transferer_call_id, transferee_addresses)
        transfer: VoipbinTransfer = await self.asend(request)
        return transfer

    def get_call(self, call_id: str) -> VoipbinCall:
        call: VoipbinCall = self.send(_call("GET", validate_uuid(call_id, "call_id")))
        return call

    async def aget_call(self, call_id: str) -> VoipbinCall:
        call: VoipbinCall = await self.asend(_call("GET", validate_uuid(call_id, "call_id")))
        return call

    def get_groupcall(self, groupcall_id: str) -> VoipbinGroupcall:
        groupcall: VoipbinGroupcall = self.send(_groupcall("GET", validate_uuid(groupcall_id, "groupcall_id")))
        return groupcall

    async def aget_groupcall(self, groupcall_id: str) -> VoipbinGroupcall:
        groupcall: VoipbinGroupcall = await self.asend(_groupcall("GET", validate_uuid(groupcall_id, "groupcall_id")))
        return groupcall

    def hangup_call(self, call_id: str) -> VoipbinCall:
        """``POST /calls/{id}/hangup``; for an attended transfer's transferer call this completes it.

        Retried like a read: hanging up twice ends in the same state.
        """
        call: VoipbinCall = self.send(_call("POST", validate_uuid(call_id, "call_id"), "/hangup"))
        return call

    async def ahangup_call(self, call_id: str) -> VoipbinCall:
        call: VoipbinCall = await self.asend(_call("POST", validate_uuid(call_id, "call_id"), "/hangup"))
        return call

    def hangup_groupcall(self, groupcall_id: str) -> VoipbinGroupcall:
        """``POST /groupcalls/{id}/hangup``: stops ringing the transferees (cancels the transfer)."""
        groupcall: VoipbinGroupcall = self.send(
            _groupcall("POST", validate_uuid(groupcall_id, "groupcall_id"), "/hangup")
        )
        return groupcall

    async def ahangup_groupcall(self, groupcall_id: str) -> VoipbinGroupcall:
        groupcall: VoipbinGroupcall = await self.asend(
            _groupcall("POST", validate_uuid(groupcall_id, "groupcall_id"), "/hangup")
        )
        return groupcall

    # ------------------------------------------------------------------ status protocol

    created_fields = ("tm_create",)

    @classmethod
    def transfer_ref(cls, transfer: Any) -> VoipbinTransferRef:
        """(id, type, groupcall_id, transferer_call_id) of a transfer's JSON, each validated."""
        return transfer_ref(transfer)

    @classmethod
    def created_value(cls, transfer: Mapping[str, Any]) -> tuple[str, Any] | None:
        found = super().created_value(transfer)
        if found is not None and str(found[1]).startswith(VOIPBIN_NOT_DELETED_SENTINEL):
            return None  # VoIPbin's "never" placeholder is no creation time
        return found

    @staticmethod
    def _check(
        ref: VoipbinTransferRef,
        groupcall: VoipbinGroupcall,
        call: VoipbinCall | None,
        answer: VoipbinCall | None = None,
        customer: VoipbinCall | None = None,
        nested: Sequence[VoipbinGroupcall] = (),
    ) -> TransferCheck:
        derived = derive_voipbin_status(ref.type, groupcall, call, answer, customer, nested)
        return TransferCheck(
            platform="voipbin",
            transfer_id=ref.id,
            status=derived.status,
            detail=derived.detail,
            evidence={**derived.evidence, "transferer_call_id": ref.transferer_call_id},
        )

    def check_plan(self, ref: VoipbinTransferRef) -> Plan[TransferCheck]:
        """Derive the status (rules in ``voipbin_status``) from the fewest reads:

        * attended: the transferer call, then the groupcall (2 reads); once the agent hung up after an answer,
          the answering call and, when it shows a hand-over, the customer's call (4 reads, at the deciding check);
        * blind: the groupcall (1 read); the transferer call too when the groupcall has no master call (the agent
          may have been the customer's master); while unanswered, each nested groupcall (agent/extension
          addresses among several), where an answer may be.

        An attended transfer reads the transferer call *before* the groupcall. An answer, once set, never goes
        away, so a groupcall read afterwards that is still unanswered proves the hang-up came first. Read the
        other way round, an answer and a hang-up landing between the two reads would look like an abandoned
        (failed) transfer when it completed. Likewise the customer's call is read after the agent's: still up
        then, it hung up after the agent.
        """
        call = (yield _call("GET", ref.transferer_call_id)) if needs_transferer_call(ref.type) else None
        groupcall = yield _groupcall("GET", ref.groupcall_id)
        if call is None and needs_transferer_call(ref.type, groupcall):
            call = yield _call("GET", ref.transferer_call_id)
        nested = []
        for nested_id in nested_groupcalls_to_read(ref.type, groupcall):
            nested.append((yield _groupcall("GET", nested_id)))
        answer = None
        if needs_answer_call(ref.type, groupcall, call) and groupcall.answer_call_id is not None:
            answer = yield _call("GET", groupcall.answer_call_id)
        customer_id = needs_customer_call(ref.type, groupcall, call, answer)
        customer = (yield _call("GET", customer_id)) if customer_id is not None else None
        check = self._check(ref, groupcall, call, answer, customer, nested)
        reads = 1 + len(nested) + sum(x is not None for x in (call, answer, customer))
        self._learn_cost(ref, check, reads)
        return check

    def _default_cost(self, ref: VoipbinTransferRef) -> float:
        return 2.0 if needs_transferer_call(ref.type) else 1.0

    def _learn_cost(self, ref: VoipbinTransferRef, check: TransferCheck, reads: int) -> None:
        """Remember what checking ``ref`` costs when it is not the usual (a blind transfer reading nested
        groupcalls or its transferer call); a settled transfer is checked no more."""
        usual = needs_transferer_call(ref.type) or reads == self._default_cost(ref)
        if usual or check.status.is_terminal:
            self._costs.pop(ref.id, None)
        else:
            self._costs[ref.id] = float(reads)

    def check_cost(self, ref: VoipbinTransferRef) -> float:
        """The groupcall, plus the transferer call for an attended transfer (the answering and customer calls,
        read once the agent hung up after an answer, are the exception that ends the wait); for a blind transfer
        what its last check cost, when its nested groupcalls or its transferer call had to be read too."""
        return self._costs.get(ref.id, self._default_cost(ref))

    # ------------------------------------------------------------------ stale transfers: cancel them

    @classmethod
    def check_stale_action(cls, body: Mapping[str, Any]) -> None:
        """Cancelling needs no body (one given is ignored)."""

    def describe_stale_action(self, ref: VoipbinTransferRef, body: Mapping[str, Any]) -> str:
        return f"cancel: hang up groupcall {ref.groupcall_id}"

    async def aact_on_stale(self, ref: VoipbinTransferRef, body: Mapping[str, Any]) -> str:
        groupcall = await self.ahangup_groupcall(ref.groupcall_id)
        status = groupcall.status.value if groupcall.status else "unknown"
        return f"cancelled; groupcall {groupcall.id} {status}"

    # ------------------------------------------------------------------ connection test

    def _probe(self) -> str:
        """``GET /calls?page_size=1``: the cheapest authenticated read."""
        self.send(OWN_CALLS_PROBE)
        api = self.api
        mode = self.settings.details.get("auth_mode")
        who = f"user {self.settings.details.get('username')!r}" if mode == "jwt" else "an access key"
        return f"Connected to VoIPbin at {api.base_url} with {who}"

    def _explain(self, exc: TransferApiError) -> str:
        mode = self._settings.details.get("auth_mode") if self._settings is not None else None
        what = "username/password" if mode == "jwt" else "access key"
        if _is_bad_credentials(exc):
            return f"Bad credentials: VoIPbin rejected the {what} ({exc.message})"
        if isinstance(exc, TransferAuthError):
            return f"Credentials accepted but not permitted to list calls (403): {exc.message}"
        if exc.status_code == 400 and exc.hint == BARE_400_HINT:
            return (
                "Credentials accepted but not permitted to list calls: a bare 400, how VoIPbin servers before "
                "April 2026 refuse a request they authenticated (a wrong key gets a 401)"
            )
        return f"Unexpected answer from VoIPbin: {exc}"
