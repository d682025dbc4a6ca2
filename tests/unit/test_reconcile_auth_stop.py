"""A refused credential stops a reconciliation at once: one login attempt, no row-by-row failures.

A wrong password cannot be fixed by the next row, and a login per row (hundreds of refused logins in one
run) risks locking the account on a real platform. Over real HTTP against the sandbox.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_transfers.hooks.base import hook_for_connection
from airflow_provider_transfers.reconcile import ReconcileOptions, RecordReader, reconcile
from airflow_provider_transfers.reconcile.job import ReconciliationStoppedError
from airflow_provider_transfers.sandbox.credentials import twilio_connection, voipbin_connection

FAST = {"backoff_initial": 0.0, "backoff_max": 0.05}
VOIPBIN_FIELDS = ("id", "type", "groupcall_id", "transferer_call_id")


def _records(transfers: list[dict[str, Any]], fields: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    picked = [{k: t[k] for k in fields} if fields else t for t in transfers]
    return [{"transfer": t, "recorded_status": "completed"} for t in picked]


def _run(conn: Connection, records: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    hook = hook_for_connection(conn, policy=FAST)

    async def go() -> dict[str, Any]:
        try:
            return await reconcile(hook, RecordReader(records), out, ReconcileOptions(max_concurrency=20))
        finally:
            await hook.aclose()

    return asyncio.run(go())


def _login_attempts(sandbox: Any) -> int:
    endpoints = sandbox.control.stats()["platforms"].get("voipbin", {}).get("endpoints", {})
    return sum(n for name, outcomes in endpoints.items() if "login" in name for n in outcomes.values())


def test_voipbin_refused_password_logs_in_once_and_stops_naming_the_connection(
    transfer_sandbox: Any, tmp_path: Path
) -> None:
    transfers = transfer_sandbox.control.seed("voipbin", 60, outcome="completed", delay_s=0)
    conn = Connection(
        conn_id="nightly_voipbin",
        conn_type="voipbin",
        host=f"{transfer_sandbox.url}/v1.0",
        login=transfer_sandbox.credentials.voipbin_username,
        password="not-the-password",
    )
    out = tmp_path / "report.jsonl"

    with pytest.raises(ReconciliationStoppedError) as caught:
        _run(conn, _records(transfers, VOIPBIN_FIELDS), out)

    message = str(caught.value)
    assert "'nightly_voipbin'" in message and "credentials refused" in message
    assert "fix its login/password" in message and "not-the-password" not in message
    assert _login_attempts(transfer_sandbox) == 1
    assert not out.exists(), "a stopped run must not publish a report"


def test_twilio_rejected_key_stops_the_run_before_most_rows(transfer_sandbox: Any, tmp_path: Path) -> None:
    transfers = transfer_sandbox.control.seed("twilio_flex", 200, outcome="completed", delay_s=0)
    fields = twilio_connection(transfer_sandbox.url, transfer_sandbox.credentials)
    conn = Connection(
        conn_id="nightly_twilio", **{**fields, "password": "wrong-token", "extra": json.dumps(fields["extra"])}
    )
    before = transfer_sandbox.control.stats()["total"]

    with pytest.raises(ReconciliationStoppedError, match="'nightly_twilio'"):
        _run(conn, _records(transfers), tmp_path / "report.jsonl")

    sent = transfer_sandbox.control.stats()["total"] - before
    assert sent < 200 / 2, f"{sent} requests: the run went on after the first 401"


def test_voipbin_good_credentials_are_unaffected(transfer_sandbox: Any, tmp_path: Path) -> None:
    transfers = transfer_sandbox.control.seed("voipbin", 5, outcome="completed", delay_s=0)
    fields = voipbin_connection(transfer_sandbox.url, transfer_sandbox.credentials)
    summary = _run(Connection(conn_id="ok", **fields), _records(transfers, VOIPBIN_FIELDS), tmp_path / "r.jsonl")
    assert summary["in_sync"] == 5 and summary["error"] == 0
