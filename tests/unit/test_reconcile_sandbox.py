"""Reconciliation over real HTTP on loopback, against the sandbox of both platforms."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from airflow.sdk import Connection

from airflow_provider_transfers.hooks.base import TransferHook, hook_for_connection
from airflow_provider_transfers.reconcile import ReconcileOptions, RecordReader, reconcile
from airflow_provider_transfers.reconcile.actions import ActionMode, StaleAction
from airflow_provider_transfers.sandbox.credentials import twilio_connection, voipbin_connection

OLD = "2026-01-01T00:00:00Z"
FAST = {"backoff_initial": 0.0, "backoff_max": 0.05}
VOIPBIN_FIELDS = ("id", "type", "groupcall_id", "transferer_call_id")


def _hook(sandbox: Any, platform: str, **policy: Any) -> TransferHook:
    make = twilio_connection if platform == "twilio_flex" else voipbin_connection
    fields = make(sandbox.url, sandbox.credentials)
    if "extra" in fields:
        fields["extra"] = json.dumps(fields["extra"])
    return hook_for_connection(Connection(conn_id=platform, **fields), policy={**FAST, **policy})


def _run(hook: TransferHook, records: list[dict[str, Any]], out: Path, **options: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        try:
            return await reconcile(hook, RecordReader(records), out, ReconcileOptions(**options))
        finally:
            await hook.aclose()

    return asyncio.run(go())


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_twilio_classes_match_the_sandbox_truth(transfer_sandbox: Any, tmp_path: Path) -> None:
    control = transfer_sandbox.control
    completed = control.seed("twilio_flex", 4, outcome="completed", delay_s=0)
    failed = control.seed("twilio_flex", 2, outcome="failed", delay_s=0)
    active = control.seed("twilio_flex", 2, delay_s=3600)
    missing = {**completed[0], "sid": "UX" + "0" * 32}
    records = [{"transfer": t, "recorded_status": "completed"} for t in completed + failed]
    records += [{"transfer": active[0], "recorded_status": "active"}]
    records += [{"transfer": active[1], "recorded_status": "active", "created_at": OLD}]
    records += [{"transfer": missing, "recorded_status": "completed"}]
    out = tmp_path / "twilio.jsonl"

    summary = _run(_hook(transfer_sandbox, "twilio_flex"), records, out)

    rows = _rows(out)
    assert [r["class"] for r in rows] == ["in_sync"] * 4 + ["drifted"] * 2 + ["in_sync", "stale", "not_found"]
    for row in rows[:-1]:
        assert row["actual_status"] == control.transfer(row["transfer_id"])["status"]
    assert "404" in rows[-1]["detail"]
    assert summary["total"] == 9 and summary["not_found"] == 1


def test_twilio_stale_action_dry_run_then_apply(transfer_sandbox: Any, tmp_path: Path) -> None:
    control = transfer_sandbox.control
    stuck = control.seed("twilio_flex", 2, delay_s=3600)
    records = [{"transfer": t, "recorded_status": "active", "created_at": OLD} for t in stuck]
    body = {"status": "failed", "note": "reconciled: stale"}

    dry = StaleAction(ActionMode.DRY_RUN, body)
    summary = _run(_hook(transfer_sandbox, "twilio_flex"), records, tmp_path / "dry.jsonl", stale_action=dry)
    assert summary["actions"] == {"mode": "dry_run", "planned": 2, "done": 0, "failed": 0}
    assert all(r["action"].startswith("planned: would update UX") for r in _rows(tmp_path / "dry.jsonl"))
    assert {control.transfer(t["sid"])["status"] for t in stuck} == {"active"}

    apply = StaleAction(ActionMode.APPLY, body)
    summary = _run(_hook(transfer_sandbox, "twilio_flex"), records, tmp_path / "apply.jsonl", stale_action=apply)
    assert summary["actions"]["done"] == 2 and summary["stale"] == 2
    # The update body has no declared fields (spec): the sandbox stores it and the status stays.
    assert [r["action"] for r in _rows(tmp_path / "apply.jsonl")] == [
        f"done: updated {t['sid']}; status now active" for t in stuck
    ]
    assert {control.transfer(t["sid"])["last_request_body"]["note"] for t in stuck} == {"reconciled: stale"}


def test_voipbin_flat_records_classes_and_cancel_of_stale(transfer_sandbox: Any, tmp_path: Path) -> None:
    control = transfer_sandbox.control
    blind_done = control.seed("voipbin", 2, outcome="completed", delay_s=0)
    blind_failed = control.seed("voipbin", 1, outcome="failed", delay_s=0)
    ringing = control.seed("voipbin", 2, delay_s=3600)
    time.sleep(0.05)

    def flat(t: dict[str, Any], recorded: str, **extra: Any) -> dict[str, Any]:
        return {**{k: t[k] for k in VOIPBIN_FIELDS}, "recorded_status": recorded, **extra}

    records = [flat(t, "completed") for t in blind_done + blind_failed]
    records += [flat(t, "active", created_at=OLD) for t in ringing]
    out = tmp_path / "voipbin.jsonl"
    summary = _run(_hook(transfer_sandbox, "voipbin"), records, out, stale_action=StaleAction(ActionMode.APPLY))

    rows = _rows(out)
    assert [r["class"] for r in rows] == ["in_sync", "in_sync", "drifted", "stale", "stale"]
    assert rows[2]["actual_status"] == "failed"
    assert all(r["action"].startswith("done: cancelled; groupcall") for r in rows[3:])
    assert summary["actions"]["done"] == 2
    time.sleep(0.3)
    assert {control.transfer(t["id"])["status"] for t in ringing} == {"failed"}


def test_errors_after_the_retries_are_rows_of_class_error(transfer_sandbox: Any, tmp_path: Path) -> None:
    transfers = transfer_sandbox.control.seed("voipbin", 3, outcome="failed", delay_s=0)
    transfer_sandbox.control.configure(faults="503=1.0")
    out = tmp_path / "errors.jsonl"
    records = [{"transfer": t, "recorded_status": "failed"} for t in transfers]

    summary = _run(_hook(transfer_sandbox, "voipbin", max_attempts=2), records, out)

    assert summary["error"] == 3
    assert all("503" in r["detail"] and r["actual_status"] == "" for r in _rows(out))
    assert transfer_sandbox.control.stats()["faults"]["503"] == 6
