"""What the demo runs: each example DAG, the sandbox set-up it needs, and its one-line summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scripts.demo import Run


def _twilio(sandbox: Any) -> Run:
    channel = sandbox.control.create_twilio_interaction()

    def summarize(xcom: Any) -> str:
        created, final = xcom("create_transfer"), xcom("wait_for_transfer")
        return f"transfer {created['sid']} created, updated, waited (deferrable): {final['status']}"

    conf = {"interaction_sid": channel["interaction_sid"], "channel_sid": channel["channel_sid"]}
    return Run("twilio_flex_transfer", conf, summarize)


def _voipbin(sandbox: Any) -> Run:
    call = sandbox.control.create_voipbin_call()

    def summarize(xcom: Any) -> str:
        started, done = xcom("start_transfer"), xcom("complete_transfer")
        return f"attended transfer {started['id']} answered, completed: {done['status']}"

    return Run("voipbin_transfer", {"transferer_call_id": call["id"]}, summarize)


def _records(sandbox: Any, platform: str, path: Path) -> None:
    """Seed transfers in the sandbox and write what "our system" recorded: 190 agree, 10 drifted."""
    completed = sandbox.control.seed(platform, 180, transfer_type=None, outcome="completed", delay_s=0)
    failed = sandbox.control.seed(platform, 20, transfer_type=None, outcome="failed", delay_s=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for n, transfer in enumerate(completed + failed):
            recorded = "completed" if n < len(completed) else "failed"
            if n % 20 == 0:
                recorded = "active"  # our system missed the update: the report must flag it as drifted
            handle.write(json.dumps({"transfer": transfer, "recorded_status": recorded}) + "\n")


def _reconcile(sandbox: Any, platform: str, out: Path) -> Run:
    records, report = out / "records" / f"{platform}.jsonl", out / "reports" / f"{platform}.jsonl"
    _records(sandbox, platform, records)

    def summarize(xcom: Any) -> str:
        counts = xcom("reconcile")
        classes = ", ".join(f"{k} {counts[k]}" for k in ("in_sync", "drifted", "stale", "not_found", "error"))
        return f"{counts['total']} records: {classes}"

    return Run(f"reconcile_{platform}", {"records_path": str(records), "report_path": str(report)}, summarize)


def _sharded(out: Path) -> Run:
    """The Twilio records again, in 4 mapped shards merged into one report (equal to the single run's)."""
    records, report = out / "records" / "twilio_flex.jsonl", out / "reports" / "twilio_flex-sharded.jsonl"

    def summarize(xcom: Any) -> str:
        counts = xcom("merge")
        classes = ", ".join(f"{k} {counts[k]}" for k in ("in_sync", "drifted", "stale", "not_found", "error"))
        return f"4 shards merged, {counts['total']} records: {classes}"

    return Run("reconcile_sharded", {"records_path": str(records), "report_path": str(report)}, summarize)


def _audit(platform: str, out: Path) -> Run:
    report = out / "reports" / f"{platform}.jsonl"

    def summarize(xcom: Any) -> str:
        summary = xcom("audit")
        return f"{platform} report passed every rule ({summary.get('total', '?')} rows)"

    run = Run("audit_transfers", {"report_path": str(report)}, summarize)
    run.label = f"audit_transfers ({platform})"
    return run


def plan(sandbox: Any, out: Path) -> list[Run]:
    return [
        _twilio(sandbox),
        _voipbin(sandbox),
        _reconcile(sandbox, "twilio_flex", out),
        _sharded(out),
        _reconcile(sandbox, "voipbin", out),
        _audit("twilio_flex", out),
        _audit("voipbin", out),
    ]
