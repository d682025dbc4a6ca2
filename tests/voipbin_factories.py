"""VoIPbin test data shared by the unit, contract and Airflow tests."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Connection

from airflow_provider_transfers.models import NIL_UUID

VB_BASE = "https://api.voipbin.net/v1.0"
VB_LOGIN = "https://api.voipbin.net/auth/login"
ACCESS_KEY = "vb-access-key-7f3c9e1d2b"
USERNAME = "agent.alice"
PASSWORD = "vb-p4ssw0rd-ultra-secret"
TRANSFER_ID = "550e8400-e29b-41d4-a716-446655440000"
TRANSFERER_ID = "c9d0e1f2-a3b4-5c6d-7e8f-9a0b1c2d3e4f"
GROUPCALL_ID = "e1f2a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b"
ANSWER_ID = "d0e1f2a3-b4c5-6d7e-8f9a-0b1c2d3e4f5a"
CUSTOMER_CALL_ID = "b8c9d0e1-f2a3-4b5c-8d7e-9f0a1b2c3d4e"
CUSTOMER_ID = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"
ADDRESSES = [{"type": "tel", "target": "+15551234567"}, {"type": "sip", "target": "bob@example.com"}]


def expire_claim(epoch: float, legacy: bool = False) -> str:
    """VoIPbin's ``expire``: ``2006-01-02T15:04:05.000000Z`` today, Go's ``Time.String()`` (no zone) before
    February 2026 (bin-common-handler/pkg/utilhandler/time.go, at 2bf22fa4 and at 43fbfc62)."""
    when = datetime.fromtimestamp(epoch, UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f") if legacy else when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def jwt(expire: float | str | None = None, marker: str = "sig", **claims: Any) -> str:
    """An unsigned-looking JWT shaped as VoIPbin issues them (the client never verifies it): ``type``,
    ``agent`` and the string ``expire`` (epoch seconds are formatted), no ``exp``
    (bin-api-manager/pkg/servicehandler/auth.go:14-49)."""

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    body: dict[str, Any] = {"type": "agent", "agent": {"username": USERNAME, "customer_id": CUSTOMER_ID}}
    if expire is not None:
        body["expire"] = expire if isinstance(expire, str) else expire_claim(expire)
    body.update(claims)
    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(body)}.{marker}"


def voipbin_connection(**over: Any) -> Connection:
    fields: dict[str, Any] = {
        "conn_id": "voipbin_default",
        "conn_type": "voipbin",
        "password": ACCESS_KEY,
        "host": VB_BASE,
    }
    fields.update(over)
    return Connection(**fields)


def transfer_json(transfer_type: str = "attended", **over: Any) -> dict[str, Any]:
    body = {
        "id": TRANSFER_ID,
        "customer_id": CUSTOMER_ID,
        "type": transfer_type,
        "transferer_call_id": TRANSFERER_ID,
        "transferee_addresses": [{**a, "target_name": "", "name": "", "detail": ""} for a in ADDRESSES],
        "transferee_call_id": NIL_UUID,
        "groupcall_id": GROUPCALL_ID,
        "confbridge_id": "f2a3b4c5-d6e7-8f9a-0b1c-2d3e4f5a6b7c",
        "tm_create": "2026-01-15 09:30:00.000000",
        "tm_update": "2026-01-15 09:30:00.000000",
        "tm_delete": "9999-01-01 00:00:00.000000",
    }
    body.update(over)
    return body


def groupcall_json(status: str = "progressing", answered: bool = False, **over: Any) -> dict[str, Any]:
    """A groupcall ringing one member: ``call_count`` 1 until it hangs up (a member left to answer, or the
    answered one still up), absent (0) after, as bin-call-manager keeps it (groupcallhandler/hangup.go:137-182)."""
    body = {
        "id": GROUPCALL_ID,
        "status": status,
        "answer_call_id": ANSWER_ID if answered else NIL_UUID,
        "call_ids": [ANSWER_ID],
        **({} if status == "hangup" else {"call_count": 1}),
        "master_call_id": CUSTOMER_CALL_ID,
        "tm_create": "2026-01-15 09:30:00.000000",
        "tm_update": "2026-01-15 09:30:01.000000",
        "tm_delete": None,
    }
    body.update(over)
    return body


def call_json(
    status: str = "progressing", call_id: str = TRANSFERER_ID, reason: str = "", **over: Any
) -> dict[str, Any]:
    body = {
        "id": call_id,
        "status": status,
        "hangup_reason": reason,
        "hangup_by": "local" if reason else "",
        "groupcall_id": NIL_UUID,
        "tm_create": "2026-01-15 09:29:00.000000",
    }
    body.update(over)
    return body


def error_json(status: str, reason: str, message: str, request_id: str = "req_ABCDEF0123456789") -> dict[str, Any]:
    return {"error": {"status": status, "reason": reason, "message": message, "request_id": request_id, "details": []}}
