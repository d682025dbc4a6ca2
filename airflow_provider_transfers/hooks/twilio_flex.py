"""Twilio Flex Interaction Channel Transfers: ``TwilioFlexHook`` (connection type ``twilio_flex``).

Unlike the official SDK (twilio 9.x raises ``AttributeError ... to_dict`` on a plain dict), create and
update take any JSON object: a dict, or a JSON string rendered from a template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import httpx
from airflow.sdk import Connection

from airflow_provider_transfers.connection_ui import TWILIO_FLEX_UI
from airflow_provider_transfers.exceptions import (
    TransferConfigError,
    TransferNotFoundError,
    TransferValidationError,
)
from airflow_provider_transfers.hooks.base import ConnectionSettings, Plan, TransferHook, TransferRef
from airflow_provider_transfers.http.client import HttpPolicy, Request, fallback_message, json_error_fields
from airflow_provider_transfers.models import TransferCheck, TwilioTransfer
from airflow_provider_transfers.validation import (
    MAX_BODY_BYTES,
    PositiveInt,
    json_object,
    sid_format,
    twilio_sid,
    validate,
    validate_base_url,
    validate_model,
)

DEFAULT_BASE_URL = "https://flex-api.twilio.com"
_REGION_TOKEN = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def validate_sid(value: Any, prefix: str, field: str) -> str:
    """A Twilio SID: two-letter ``prefix`` and 32 hex digits, the whole value. Raises naming ``field``."""
    return str(validate(twilio_sid(prefix), value, field))


def normalize_body(body: Any, field: str = "body", *, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a JSON object: ``None``/empty -> ``{}``; a dict; or JSON text of an object.

    Refused, naming ``field``: anything else, NaN/infinity, nesting deeper than ``validation.MAX_DEPTH``,
    and more than ``max_bytes`` of JSON.
    """
    result: dict[str, Any] = validate(json_object(max_bytes=max_bytes), body, field)
    return result


class TwilioTransferRef(TransferRef):
    """What identifies a Flex transfer: its interaction, channel and own SIDs."""

    interaction_sid: Annotated[str, sid_format("KD")]
    channel_sid: Annotated[str, sid_format("UO")]
    sid: Annotated[str, sid_format("UX")]

    @property
    def transfer_id(self) -> str:
        return self.sid

    @property
    def path(self) -> str:
        return f"/v1/Interactions/{self.interaction_sid}/Channels/{self.channel_sid}/Transfers/{self.sid}"


def parse_twilio_error(response: httpx.Response) -> dict[str, Any]:
    """Classic ``{code, message, more_info, status}`` and RFC 9457-style ``{type, title, status, code, detail}``."""
    body = json_error_fields(response)
    if not isinstance(body, dict):
        return {"message": fallback_message(response)}
    code = body.get("code")
    message = body.get("message") or body.get("detail") or body.get("title") or fallback_message(response)
    more_info = body.get("more_info")
    if not more_info and isinstance(body.get("type"), str) and body["type"].startswith("http"):
        more_info = body["type"]
    return {
        "message": str(message),
        "code": code if isinstance(code, int) else None,
        "more_info": more_info,
        "request_id": body.get("instance") if isinstance(body.get("instance"), str) else None,
    }


class TwilioFlexHook(TransferHook):
    """Create, fetch and update Flex Interaction Channel Transfers.

    Connection: login = API Key SID (``SK...``) or Account SID (``AC...``); password = API key secret or
    Auth Token; extra ``account_sid`` (required with an API key), ``region``, ``edge``, and the policy
    fields (``timeout``, ``max_attempts``, ``rate_limit``, ...); host = optional base-URL override.
    """

    platform = "twilio_flex"
    conn_type = "twilio_flex"
    conn_name_attr = "twilio_flex_conn_id"
    default_conn_name = "twilio_flex_default"
    hook_name = "Twilio Flex"
    # Interactions API: 20 requests/s per endpoint per account.
    connection_ui = TWILIO_FLEX_UI
    extra_keys: ClassVar[frozenset[str]] = frozenset({"account_sid", "region", "edge"})
    check_bucket = "fetch"
    ref_model = TwilioTransferRef
    default_policy: ClassVar[HttpPolicy] = HttpPolicy(rate_limit=20.0, rate_burst=20)

    def __init__(self, *args: Any, max_body_bytes: int | str = MAX_BODY_BYTES, **kwargs: Any) -> None:
        """:param max_body_bytes: largest create/update body sent, as UTF-8 JSON (default 1 MB)."""
        self.max_body_bytes: int = validate(PositiveInt, max_body_bytes, "max_body_bytes")
        super().__init__(*args, **kwargs)

    @staticmethod
    def parse_error(response: httpx.Response) -> dict[str, Any]:
        return parse_twilio_error(response)

    # ------------------------------------------------------------------ connection

    @classmethod
    def settings_from_connection(cls, conn: Connection) -> ConnectionSettings:
        where = f"Connection {conn.conn_id!r}"
        login = (conn.login or "").strip()
        password = conn.password or ""
        extra = conn.extra_dejson
        if not login:
            raise TransferConfigError(f"{where}: login must be an API Key SID (SK...) or an Account SID (AC...)")
        if not password:
            raise TransferConfigError(f"{where}: password must hold the API key secret or the Auth Token")
        account_sid = extra.get("account_sid") or None
        if login.startswith("SK"):
            _config_sid(login, "SK", f"{where} login")
            if not account_sid:
                raise TransferConfigError(f"{where}: extra 'account_sid' (AC...) is required with an API key login")
            account_sid = _config_sid(account_sid, "AC", f"{where} extra 'account_sid'")
        elif login.startswith("AC"):
            _config_sid(login, "AC", f"{where} login")
            if account_sid and account_sid != login:
                raise TransferConfigError(f"{where}: extra 'account_sid' differs from the Account SID in login")
            account_sid = login
        else:
            raise TransferConfigError(
                f"{where}: login must be an API Key SID ('SK' + 32 hex) or an Account SID ('AC' + 32 hex)"
            )
        base_url = _base_url(conn, extra, where)
        return ConnectionSettings(
            base_url=base_url,
            auth=httpx.BasicAuth(login, password),
            secrets=(password,),
            details={"account_sid": account_sid},
        )

    # ------------------------------------------------------------------ transfers

    @staticmethod
    def _transfers_path(interaction_sid: str, channel_sid: str) -> str:
        return (
            f"/v1/Interactions/{validate_sid(interaction_sid, 'KD', 'interaction_sid')}"
            f"/Channels/{validate_sid(channel_sid, 'UO', 'channel_sid')}/Transfers"
        )

    @classmethod
    def _transfer_path(cls, interaction_sid: str, channel_sid: str, transfer_sid: str) -> str:
        return f"{cls._transfers_path(interaction_sid, channel_sid)}/{validate_sid(transfer_sid, 'UX', 'transfer_sid')}"

    def _create(self, interaction_sid: str, channel_sid: str, body: Any) -> Request:
        path = self._transfers_path(interaction_sid, channel_sid)
        payload = normalize_body(body, max_bytes=self.max_body_bytes)
        return _transfer_request("POST", path, json=payload, bucket="create", idempotent=False)

    def _update(self, interaction_sid: str, channel_sid: str, transfer_sid: str, body: Any) -> Request:
        path = self._transfer_path(interaction_sid, channel_sid, transfer_sid)
        payload = normalize_body(body, max_bytes=self.max_body_bytes)
        return _transfer_request("POST", path, json=payload, bucket="update")

    def _fetch(self, interaction_sid: str, channel_sid: str, transfer_sid: str) -> Request:
        return _transfer_request("GET", self._transfer_path(interaction_sid, channel_sid, transfer_sid))

    def create_transfer(self, interaction_sid: str, channel_sid: str, body: Any = None) -> TwilioTransfer:
        """Create a transfer. Not idempotent: retried only when Twilio cannot have acted (429/503/no connection)."""
        transfer: TwilioTransfer = self.send(self._create(interaction_sid, channel_sid, body))
        return transfer

    async def acreate_transfer(self, interaction_sid: str, channel_sid: str, body: Any = None) -> TwilioTransfer:
        transfer: TwilioTransfer = await self.asend(self._create(interaction_sid, channel_sid, body))
        return transfer

    def get_transfer(self, interaction_sid: str, channel_sid: str, transfer_sid: str) -> TwilioTransfer:
        transfer: TwilioTransfer = self.send(self._fetch(interaction_sid, channel_sid, transfer_sid))
        return transfer

    async def aget_transfer(self, interaction_sid: str, channel_sid: str, transfer_sid: str) -> TwilioTransfer:
        transfer: TwilioTransfer = await self.asend(self._fetch(interaction_sid, channel_sid, transfer_sid))
        return transfer

    def update_transfer(
        self, interaction_sid: str, channel_sid: str, transfer_sid: str, body: Any = None
    ) -> TwilioTransfer:
        transfer: TwilioTransfer = self.send(self._update(interaction_sid, channel_sid, transfer_sid, body))
        return transfer

    async def aupdate_transfer(
        self, interaction_sid: str, channel_sid: str, transfer_sid: str, body: Any = None
    ) -> TwilioTransfer:
        transfer: TwilioTransfer = await self.asend(self._update(interaction_sid, channel_sid, transfer_sid, body))
        return transfer

    # ------------------------------------------------------------------ status protocol

    created_fields = ("date_created",)

    @classmethod
    def transfer_ref(cls, transfer: Any) -> TwilioTransferRef:
        """``interaction_sid``, ``channel_sid`` and ``sid`` of a transfer's JSON, each checked."""
        if not isinstance(transfer, Mapping):
            raise TransferValidationError("transfer", "the transfer's JSON object", type(transfer).__name__)
        fields = {name: transfer.get(name) for name in TwilioTransferRef.model_fields}
        return validate_model(TwilioTransferRef, fields, "transfer", subscript=True)

    def check_plan(self, ref: TwilioTransferRef) -> Plan[TransferCheck]:
        """One read: Twilio reports the transfer's status itself."""
        found: TwilioTransfer = yield _transfer_request("GET", ref.path)
        return TransferCheck(
            platform="twilio_flex",
            transfer_id=found.sid or "",
            status=found.status,
            detail=f"Twilio reports {found.type.value} transfer {found.status.value}",
            evidence={
                "type": found.type.value,
                "twilio_status": found.status.value,
                "date_updated": found.date_updated.isoformat() if found.date_updated else None,
            },
        )

    # ------------------------------------------------------------------ stale transfers: update them

    @classmethod
    def check_stale_action(cls, body: Mapping[str, Any]) -> None:
        if not body:
            raise TransferConfigError(
                "act_on_stale on Twilio Flex needs stale_action_body: the JSON object to update stale "
                'transfers with (e.g. {"status": "failed"})'
            )

    def describe_stale_action(self, ref: TwilioTransferRef, body: Mapping[str, Any]) -> str:
        return f"update {ref.sid} with {dict(body)}"

    async def aact_on_stale(self, ref: TwilioTransferRef, body: Mapping[str, Any]) -> str:
        updated = await self.aupdate_transfer(ref.interaction_sid, ref.channel_sid, ref.sid, dict(body))
        return f"updated {ref.sid}; status now {updated.status.value}"

    # ------------------------------------------------------------------ connection test

    def _probe(self) -> str:
        """``GET /v1/Configuration``: the cheapest authenticated Flex read that names the account."""
        api = self.api
        expected = self.settings.details.get("account_sid")
        try:
            config = api.request(Request("GET", "/v1/Configuration", bucket="configuration"))
        except TransferNotFoundError:
            return (
                f"Credentials accepted by {api.base_url}, but Flex is not enabled on account {expected} "
                "(GET /v1/Configuration answered 404)"
            )
        actual = config.get("account_sid") if isinstance(config, dict) else None
        if expected and actual and actual != expected:
            raise TransferConfigError(
                f"Wrong account: the credentials belong to {actual}, the connection names {expected}"
            )
        return f"Connected to Twilio Flex at {api.base_url} as account {actual or expected}"


def _transfer_request(method: str, path: str, **kwargs: Any) -> Request:
    return Request(method, path, TwilioTransfer, "transfer", bucket=kwargs.pop("bucket", "fetch"), **kwargs)


def _config_sid(value: Any, prefix: str, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(rf"{prefix}[0-9a-fA-F]{{32}}", value):
        raise TransferConfigError(f"{where} must be '{prefix}' followed by 32 hex digits")
    return value


def _base_url(conn: Connection, extra: Mapping[str, Any], where: str) -> str:
    if conn.host:
        url = validate_base_url(conn.host, field="host")
        if conn.port and httpx.URL(url).port is None:
            url = str(httpx.URL(url).copy_with(port=conn.port)).rstrip("/")
        return url
    region = (extra.get("region") or "").strip().lower()
    edge = (extra.get("edge") or "").strip().lower()
    for name, token in (("region", region), ("edge", edge)):
        if token and not _REGION_TOKEN.match(token):
            raise TransferConfigError(f"{where}: extra {name!r} must be a name like 'au1' or 'sydney'; got {token!r}")
    if edge and not region:
        region = "us1"
    if not region:
        return DEFAULT_BASE_URL
    return f"https://flex-api.{edge + '.' if edge else ''}{region}.twilio.com"
