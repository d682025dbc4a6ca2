"""Test data shared by unit and loopback tests."""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk import Connection

ACCOUNT = "AC" + "1" * 32
API_KEY = "SK" + "2" * 32
API_SECRET = "s3cr3t-api-key-secret-value"
KD = "KD" + "a" * 32
UO = "UO" + "b" * 32
UX = "UX" + "c" * 32
BASE = "https://flex-api.twilio.com"


def twilio_transfer(status: str = "active", **over: Any) -> dict[str, Any]:
    body = {
        "sid": UX,
        "instance_sid": "GO" + "d" * 32,
        "account_sid": ACCOUNT,
        "interaction_sid": KD,
        "channel_sid": UO,
        "execution_sid": "QW" + "e" * 32,
        "type": "warm",
        "status": status,
        "from": "UT" + "f" * 32,
        "to": "WW" + "0" * 32,
        "note_sid": None,
        "summary_sid": None,
        "date_created": "2026-01-10T20:00:00Z",
        "date_updated": "2026-01-10T20:00:05Z",
        "url": f"{BASE}/v1/Interactions/{KD}/Channels/{UO}/Transfers/{UX}",
    }
    body.update(over)
    return body


def twilio_connection(**over: Any) -> Connection:
    fields: dict[str, Any] = {
        "conn_id": "twilio_flex_default",
        "conn_type": "twilio_flex",
        "login": API_KEY,
        "password": API_SECRET,
        "extra": json.dumps({"account_sid": ACCOUNT}),
    }
    fields.update(over)
    return Connection(**fields)


def report_row(cls: str = "in_sync", actual_status: str = "completed", **over: Any) -> dict[str, Any]:
    """One row of a reconciliation report, every column present (``REPORT_COLUMNS``)."""
    row = {
        "row": 1, "platform": "twilio_flex", "transfer_id": UX, "reference": {}, "recorded_status": "completed",
        "actual_status": actual_status, "class": cls, "detail": "", "action": "", "checked_at": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    row.update(over)
    return row
