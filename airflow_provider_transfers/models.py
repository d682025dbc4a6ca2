"""Typed models of the platforms' JSON: parsed once at the edge, dumped with ``to_xcom()`` for XCom; they
keep the fields they do not declare (``extra="allow"``, see docs/design.md, "Input checks and models")."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import pendulum
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from airflow_provider_transfers.validation import (
    E164,
    NIL_UUID,
    Email,
    ResourceUuid,
    SipAddress,
    Text,
    check_as,
    full_match,
)

VOIPBIN_NOT_DELETED_SENTINEL = "9999-01-01"


class TransferStatus(StrEnum):
    """The one status model both platforms map onto. ``completed`` and ``failed`` are terminal."""

    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self is not TransferStatus.ACTIVE


class _PlatformModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    def to_xcom(self) -> dict[str, Any]:
        """JSON-safe dict with the platform's own field names (what operators push to XCom)."""
        return self.model_dump(mode="json", by_alias=True)


def _parse_datetime(value: Any) -> datetime | None:
    """An ISO-8601/RFC 3339 date-time, or VoIPbin's pre-2026 ``2006-01-02 15:04:05.000000`` (UTC); unset:
    ``None``, ``""`` or VoIPbin's 9999-01-01 sentinel."""
    if value in (None, "") or (isinstance(value, str) and value.startswith(VOIPBIN_NOT_DELETED_SENTINEL)):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = pendulum.parse(str(value), tz="UTC")
    if not isinstance(parsed, datetime):
        raise ValueError(f"expected a date-time, got {value!r}")
    return parsed


Timestamp = Annotated[datetime | None, BeforeValidator(_parse_datetime)]


# --------------------------------------------------------------------------------------------- Twilio


class TwilioTransferType(StrEnum):
    WARM = "warm"
    COLD = "cold"
    EXTERNAL = "external"


class TwilioTransfer(_PlatformModel):
    """A Flex Interaction Channel Transfer (``flex.v1.interaction.interaction_channel.interaction_transfer``)."""

    sid: str | None = None
    instance_sid: str | None = None
    account_sid: str | None = None
    interaction_sid: str | None = None
    channel_sid: str | None = None
    execution_sid: str | None = None
    type: TwilioTransferType
    status: TransferStatus
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    note_sid: str | None = None
    summary_sid: str | None = None
    date_created: Timestamp = None
    date_updated: Timestamp = None
    url: str | None = None


# --------------------------------------------------------------------------------------------- VoIPbin


OptionalId = Annotated[str | None, BeforeValidator(lambda value: None if value in ("", NIL_UUID) else value)]
OptionalList = BeforeValidator(lambda value: [] if value is None else value)
"""Go marshals a nil slice as ``null`` (``transferee_addresses`` of a transfer) or omits it."""


class VoipbinTransferType(StrEnum):
    ATTENDED = "attended"
    BLIND = "blind"


class AddressType(StrEnum):
    NONE = ""
    AGENT = "agent"
    CONFERENCE = "conference"
    EMAIL = "email"
    EXTENSION = "extension"
    LINE = "line"
    SIP = "sip"
    TEL = "tel"
    WEB_SESSION = "web_session"


class Address(_PlatformModel):
    """A VoIPbin ``CommonAddress`` as the platform returns it (lenient: responses are not re-validated)."""

    type: str = ""
    target: str = ""
    target_name: str | None = None
    name: str | None = None
    detail: str | None = None


_TARGET_TYPES = {"tel": E164, "sip": SipAddress, "agent": ResourceUuid, "conference": ResourceUuid, "email": Email}
"""The form of ``target`` per address type; any other type takes a one-line ``Text``."""
ADDRESS_TYPES = tuple(t.value for t in AddressType if t.value)
OptionalLabel = Annotated[str | None, Field(max_length=1024)]


class TransfereeAddress(Address):
    """An address we are about to *send*: ``target`` matches its ``type`` in full, unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, full_match("|".join(ADDRESS_TYPES), f"one of {', '.join(ADDRESS_TYPES)}")]
    target: str
    target_name: OptionalLabel = None
    name: OptionalLabel = None
    detail: OptionalLabel = None

    @field_validator("target", mode="before")
    @classmethod
    def _target_matches_type(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("type")
        if kind is None:  # the type was refused already; that error is the one to report
            return value
        return check_as(_TARGET_TYPES.get(kind, Text), value)


class VoipbinTransfer(_PlatformModel):
    """A VoIPbin ``TransferManagerTransfer``. Note: ``type`` here, ``transfer_type`` in the request."""

    id: str
    customer_id: str | None = None
    type: VoipbinTransferType
    transferer_call_id: str
    transferee_addresses: Annotated[list[Address], OptionalList] = Field(default_factory=list)
    transferee_call_id: OptionalId = None
    groupcall_id: OptionalId = None
    confbridge_id: OptionalId = None
    tm_create: Timestamp = None
    tm_update: Timestamp = None
    tm_delete: Timestamp = None

    @property
    def is_deleted(self) -> bool:
        return self.tm_delete is not None


class VoipbinCallStatus(StrEnum):
    DIALING = "dialing"
    RINGING = "ringing"
    PROGRESSING = "progressing"
    TERMINATING = "terminating"
    CANCELING = "canceling"
    HANGUP = "hangup"


class VoipbinGroupcallStatus(StrEnum):
    PROGRESSING = "progressing"
    HANGINGUP = "hangingup"
    HANGUP = "hangup"


class VoipbinCall(_PlatformModel):
    """A call. ``master_call_id``/``chained_call_ids``: hanging up a call hangs up the calls chained to it."""

    id: str
    status: VoipbinCallStatus | None = None
    hangup_reason: str | None = None
    hangup_by: str | None = None
    groupcall_id: OptionalId = None
    master_call_id: OptionalId = None
    chained_call_ids: Annotated[list[str], OptionalList] = Field(default_factory=list)
    source: Address | None = None
    destination: Address | None = None
    tm_progressing: Timestamp = None
    tm_ringing: Timestamp = None
    tm_hangup: Timestamp = None
    tm_create: Timestamp = None
    tm_update: Timestamp = None
    tm_delete: Timestamp = None


class VoipbinGroupcall(_PlatformModel):
    """A groupcall. ``groupcall_ids`` are nested groupcalls, whose answers never reach ``answer_call_id``;
    ``call_count + groupcall_count`` (each absent when 0) is the number of members not ended yet."""

    id: str
    status: VoipbinGroupcallStatus | None = None
    answer_call_id: OptionalId = None
    call_ids: Annotated[list[str], OptionalList] = Field(default_factory=list)
    groupcall_ids: Annotated[list[str], OptionalList] = Field(default_factory=list)
    master_call_id: OptionalId = None
    master_groupcall_id: OptionalId = None
    call_count: int = 0
    groupcall_count: int = 0
    tm_create: Timestamp = None
    tm_update: Timestamp = None
    tm_delete: Timestamp = None


# --------------------------------------------------------------------------------------------- neutral


class TransferCheck(BaseModel):
    """One status check of one transfer, with the evidence behind it (for sensors, reports, audits)."""

    model_config = ConfigDict(frozen=True)

    platform: str
    transfer_id: str
    status: TransferStatus
    detail: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    checked_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def to_xcom(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
