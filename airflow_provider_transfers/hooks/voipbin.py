"""VoIPbin transfers: ``VoipbinHook`` (connection type ``voipbin``).

VoIPbin offers only ``POST /transfers``: the hook derives a transfer's status from its groupcall and calls
(``voipbin_status``) and ends a transfer by hanging up the transferer call or the groupcall.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
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


# --------------------------------------------------------------------------------------------- inputs


def validate_uuid(value: Any, field: str) -> str:
    """A VoIPbin resource id: a UUID (the whole value), not the nil UUID. Raises naming ``field``."""
    return str(validate(ResourceUuid, value, field))


def _transfer_type(value: Any) -> VoipbinTransferType:
    if isinstance(value, str) and value.lower() in {t.value for t in VoipbinTransferType}:
        return VoipbinTransferType(value.lower())
    raise form_error("'attended' or 'blind'")


TransferType = Annotated[VoipbinTransferType, BeforeValidator(_transfer_type)]


def validate_transfer_type(value: Any, field: str = "transfer_type") -> VoipbinTransferType:
    return validate(TransferType, value, field)


ADDRESSES_EXPECTED = "a non-empty list of addresses like [{'type': 'tel', 'target': '+15551234567'}]"


@functools.cache
def transferee_addresses(max_items: int = MAX_ADDRESSES) -> Any:
    """The type of ``transferee_addresses``: a list (or one mapping, or text of either) of at most
    ``max_items`` ``TransfereeAddress``."""

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
    """Transferee addresses (see ``transferee_addresses``) as the request body needs them."""
    addresses: list[TransfereeAddress] = validate(transferee_addresses(max_items), value, field)
    return [a.model_dump(mode="json", exclude_none=True) for a in addresses]


TRANSFER_EXPECTED = "the transfer JSON pushed by VoipbinCreateTransferOperator (a dict or JSON text)"
_TRANSFER_TEXT = Annotated[
    Any, BeforeValidator(lambda v: parse_json_text(v, what=TRANSFER_EXPECTED, python_literals=True))
]
_Uuid = Annotated[str, BeforeValidator(lambda v: check_as(ResourceUuid, v))]


class VoipbinTransferRef(TransferRef):
    """What a status check needs from a transfer's JSON, validated."""

    id: _Uuid
    type: TransferType
    groupcall_id: _Uuid
    transferer_call_id: _Uuid

    @property
    def transfer_id(self) -> str:
        return self.id


def transfer_ref(value: Any, field: str = "transfer") -> VoipbinTransferRef:
    """A transfer's reference, from its JSON: a mapping, a ``VoipbinTransfer``, or JSON text (or the Python
    literal Jinja renders a dict into: a rendered XCom)."""
    if isinstance(value, VoipbinTransfer):
        value = value.to_xcom()
    elif isinstance(value, str):
        value = validate(_TRANSFER_TEXT, value, field)
    if not isinstance(value, Mapping):
        raise TransferValidationError(field, TRANSFER_EXPECTED, type(value).__name__)
    fields = {name: value.get(name) for name in VoipbinTransferRef.model_fields}
    return validate_model(VoipbinTransferRef, fields, field, subscript=True)


def _call(method: str, call_id: str, action: str = "") -> Request:
    """A call read or hang-up (``call_id`` already validated)."""
    return Request(method, f"/calls/{call_id}{action}", VoipbinCall, "call", bucket=BUCKET)


def _groupcall(method: str, groupcall_id: str, action: str = "") -> Request:
    return Request(method, f"/groupcalls/{groupcall_id}{action}", VoipbinGroupcall, "groupcall", bucket=BUCKET)


# --------------------------------------------------------------------------------------------- errors


def _hint(response: httpx.Response, reason: str | None) -> str | None:
    try:
        method, path = response.request.method, response.request.url.path
    except RuntimeError:  # a response built without its request
        method, path = "", ""
    bare_400 = response.status_code == 400 and not response.content
    creating = method == "POST" and path.endswith("/transfers")
    # A transfer-manager refusal is a 500 (before April 2026 a bare 400), a 409 or CALL_STATE_INVALID (server
    # sources: docs/operators/voipbin.md, "Create").
    if reason == "CALL_STATE_INVALID" or (creating and (response.status_code in (409, 500) or bare_400)):
        return CALL_STATE_HINT
    if bare_400:
        return BARE_400_HINT
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
        fields = {"message": "Bad Request with an empty body"}
    elif isinstance(body, dict) and isinstance(body.get("message"), str):
        fields = {"message": body["message"]}
    else:
        fields = {"message": fallback_message(response)}
    fields["hint"] = _hint(response, fields.get("reason"))
    return fields


_RESOURCE_PATH = re.compile(r"^/(calls|groupcalls)/[^/]+(/hangup)?$|^/transfers$")
OWN_CALLS_PROBE = Request("GET", "/calls", params={"page_size": 1}, bucket=BUCKET)
"""Decided by the connection's own permission only: the Test button's probe, and the witness that tells a
refused resource from refused credentials."""


def _recast(exc: TransferApiError, cls: type[TransferApiError], hint: str) -> TransferApiError:
    """``exc`` as ``cls``: the same answer, another meaning (its attributes are its constructor's fields)."""
    return cls(**{**vars(exc), "hint": hint})


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


class VoipbinHook(TransferHook):
    """Start VoIPbin transfers, read their groupcalls and calls, derive their status, hang them up.

    Connection (type ``voipbin``, docs/connections/voipbin.md): an access key, or a username and password.
    """

    platform = "voipbin"
    conn_type = "voipbin"
    conn_name_attr = "voipbin_conn_id"
    default_conn_name = "voipbin_default"
    hook_name = "VoIPbin"
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
            error = drive(self._refusal_plan(request, exc), super().send)
            if error is exc:
                raise
            raise error from exc

    async def asend(self, request: Request) -> Any:
        try:
            return await super().asend(request)
        except TransferApiError as exc:
            error = await adrive(self._refusal_plan(request, exc), super().asend)
            if error is exc:
                raise
            raise error from exc

    def _refusal_plan(self, request: Request, exc: TransferApiError) -> Plan[Exception]:
        """What a refused request means: one resource's refusal (``TransferPermissionError``, a row's problem)
        or the credentials' (``TransferAuthError``, which stops a reconciliation). A 403 ``PERMISSION_DENIED``
        (before April 2026 a bare 400) on a call, groupcall or transfer may be either: the first one asks
        ``OWN_CALLS_PROBE``, once per hook (operators page, "Refused requests")."""
        denied = exc.status_code == 403 and exc.reason == "PERMISSION_DENIED"
        bare_400 = exc.status_code == 400 and exc.hint == BARE_400_HINT
        if not _RESOURCE_PATH.match(request.path) or not (denied or bare_400):
            return exc
        if not self._own_calls_readable:
            try:
                yield OWN_CALLS_PROBE
            except TransferProviderError as probe:
                if isinstance(probe, TransferApiError) and probe.status_code in (400, 401, 403):
                    refused = f"{request.method} {request.path} and GET /calls are refused alike"
                    return _recast(exc, TransferAuthError, f"{refused}: {CREDENTIALS_HINT}")
                return probe
            self._own_calls_readable = True
        if exc.status_code == 403:
            return _recast(exc, TransferPermissionError, PERMISSION_HINT)
        return exc

    @staticmethod
    def parse_error(response: httpx.Response) -> dict[str, Any]:
        return parse_voipbin_error(response)

    @classmethod
    def settings_from_connection(cls, conn: Connection) -> ConnectionSettings:
        username = (conn.login or "").strip()
        password = conn.password or ""
        if not password:
            raise TransferConfigError(
                f"Connection {conn.conn_id!r}: password must hold a VoIPbin access key (with login empty), "
                "or the password of the username given in login"
            )
        base_url = _base_url(conn)
        if username:  # login sits beside the versioned API: .../v1.0 -> .../auth/login
            url = httpx.URL(base_url)
            root = re.sub(r"/v\d+(\.\d+)*$", "", url.path.rstrip("/"))
            auth: httpx.Auth = JwtAuth(str(url.copy_with(path=f"{root}/auth/login")), username, password)
        else:
            auth = AccessKeyAuth(password.strip())
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
        return self.send(self._create(transfer_type, transferer_call_id, transferee_addresses))

    async def acreate_transfer(
        self, transfer_type: VoipbinTransferType | str, transferer_call_id: str, transferee_addresses: Any
    ) -> VoipbinTransfer:
        return await self.asend(self._create(transfer_type, transferer_call_id, transferee_addresses))

    def get_call(self, call_id: str) -> VoipbinCall:
        return self.send(_call("GET", validate_uuid(call_id, "call_id")))

    async def aget_call(self, call_id: str) -> VoipbinCall:
        return await self.asend(_call("GET", validate_uuid(call_id, "call_id")))

    def get_groupcall(self, groupcall_id: str) -> VoipbinGroupcall:
        return self.send(_groupcall("GET", validate_uuid(groupcall_id, "groupcall_id")))

    async def aget_groupcall(self, groupcall_id: str) -> VoipbinGroupcall:
        return await self.asend(_groupcall("GET", validate_uuid(groupcall_id, "groupcall_id")))

    def hangup_call(self, call_id: str) -> VoipbinCall:
        """``POST /calls/{id}/hangup`` (completes an attended transfer); retried like a read: hanging up twice
        ends in the same state."""
        return self.send(_call("POST", validate_uuid(call_id, "call_id"), "/hangup"))

    async def ahangup_call(self, call_id: str) -> VoipbinCall:
        return await self.asend(_call("POST", validate_uuid(call_id, "call_id"), "/hangup"))

    def hangup_groupcall(self, groupcall_id: str) -> VoipbinGroupcall:
        """``POST /groupcalls/{id}/hangup``: stops ringing the transferees (cancels the transfer)."""
        return self.send(_groupcall("POST", validate_uuid(groupcall_id, "groupcall_id"), "/hangup"))

    async def ahangup_groupcall(self, groupcall_id: str) -> VoipbinGroupcall:
        return await self.asend(_groupcall("POST", validate_uuid(groupcall_id, "groupcall_id"), "/hangup"))

    # ------------------------------------------------------------------ status protocol

    created_fields = ("tm_create",)

    @classmethod
    def transfer_ref(cls, transfer: Any) -> VoipbinTransferRef:
        return transfer_ref(transfer)

    @classmethod
    def created_value(cls, transfer: Mapping[str, Any]) -> tuple[str, Any] | None:
        found = super().created_value(transfer)
        if found is not None and str(found[1]).startswith(VOIPBIN_NOT_DELETED_SENTINEL):
            return None  # VoIPbin's "never" placeholder is no creation time
        return found

    def check_plan(self, ref: VoipbinTransferRef) -> Plan[TransferCheck]:
        """Derive the status (``voipbin_status``) from the fewest reads, in an order that cannot mistake a race
        for a failure: the agent's call before the groupcall, the customer's after the agent's (why: "Requests
        per check" in docs/operators/voipbin.md)."""
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
        derived = derive_voipbin_status(ref.type, groupcall, call, answer, customer, nested)
        reads = 1 + len(nested) + sum(x is not None for x in (call, answer, customer))
        # A blind transfer that had to read its transferer call or nested groupcalls costs that much next time.
        if ref.type is VoipbinTransferType.BLIND and reads > 1 and not derived.status.is_terminal:
            self._costs[ref.id] = float(reads)
        else:
            self._costs.pop(ref.id, None)
        return TransferCheck(
            platform="voipbin",
            transfer_id=ref.id,
            status=derived.status,
            detail=derived.detail,
            evidence={**derived.evidence, "transferer_call_id": ref.transferer_call_id},
        )

    def check_cost(self, ref: VoipbinTransferRef) -> float:
        """2 requests for an attended transfer (the deciding check's extra reads end the wait), 1 for a blind
        one, or what its last check cost (its transferer call, nested groupcalls)."""
        return self._costs.get(ref.id, 2.0 if ref.type is VoipbinTransferType.ATTENDED else 1.0)

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
        details = self.settings.details
        who = f"user {details.get('username')!r}" if details.get("auth_mode") == "jwt" else "an access key"
        return f"Connected to VoIPbin at {self.api.base_url} with {who}"

    def _explain(self, exc: TransferApiError) -> str:
        mode = self._settings.details.get("auth_mode") if self._settings is not None else None
        what = "username/password" if mode == "jwt" else "access key"
        refused_login = isinstance(exc, TransferAuthError) and exc.path == "/auth/login"  # raised by JwtAuth
        if exc.status_code == 401 or refused_login:
            return f"Bad credentials: VoIPbin rejected the {what} ({exc.message})"
        if isinstance(exc, TransferAuthError):
            return f"Credentials accepted but not permitted to list calls (403): {exc.message}"
        if exc.status_code == 400 and exc.hint == BARE_400_HINT:
            return (
                "Credentials accepted but not permitted to list calls: a bare 400, how VoIPbin servers before "
                "April 2026 refuse a request they authenticated (a wrong key gets a 401)"
            )
        return f"Unexpected answer from VoIPbin: {exc}"
