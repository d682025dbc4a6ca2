"""OpenLineage in a real deployment: the provider's listener in the LocalExecutor's task processes writes
the reconciliation's and the audit's events to a file transport.

Only for this module the scheduler runs with the OpenLineage configuration (its task processes inherit
it), then it is restarted without: the listener's fork around every task slows the other modules' DAGs,
whose waits must start within the sandbox's 4-6 s to defer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.deployment import Deployment, openlineage_env
from tests.harness.runs import WatchedRun, task_log, trigger, wait_finished, wait_until_parsed

pytestmark = pytest.mark.e2e


@pytest.fixture
def lineage_events(deployment: Deployment, artifacts: Path) -> Iterator[Path]:
    events = artifacts / "openlineage.jsonl"
    events.unlink(missing_ok=True)
    deployment.restart("scheduler", openlineage_env(events))
    try:
        yield events
    finally:
        deployment.restart("scheduler")


def _task_events(events: Path, run: WatchedRun, task_id: str, event_type: str) -> list[dict[str, Any]]:
    """This run's events of one task (scheduled and Asset-triggered runs write to the same file)."""
    found = []
    for line in events.read_text().splitlines():
        event = json.loads(line)
        airflow = event["run"]["facets"].get("airflow", {})
        if (
            event["eventType"] == event_type
            and event["job"]["name"] == f"{run.dag_id}.{task_id}"
            and airflow.get("dagRun", {}).get("run_id") == run.run_id
        ):
            found.append(event)
    return found


def _run(deployment: Deployment, dag_id: str, conf: dict[str, Any]) -> WatchedRun:
    run = trigger(deployment, dag_id, conf)
    wait_finished(deployment, run, timeout=300)
    failed = [ti["task_id"] for ti in run.task_instances if ti["state"] != "success"]
    assert run.state == "success", "\n".join(task_log(deployment, run, t)[-3000:] for t in failed)
    return run


def test_reconciliation_and_audit_emit_records_report_and_counts(
    deployment: Deployment, sandbox: Any, artifacts: Path, lineage_events: Path
) -> None:
    wait_until_parsed(deployment, ["reconcile_voipbin", "audit_transfers"])
    control = sandbox.control
    transfers = control.seed("voipbin", 5, outcome="completed", delay_s=0)
    # The records where the DAG's defaults point: unpausing the @daily DAG starts a scheduled run that
    # reads them (max_active_runs=1 queues the triggered run behind it), so it must find valid records.
    records = Path(deployment.env["AIRFLOW_VAR_TRANSFER_RECONCILE_DIR"]) / "records" / "voipbin.jsonl"
    report = artifacts / "lineage" / "voipbin.jsonl"
    records.parent.mkdir(parents=True, exist_ok=True)
    recorded = ["completed"] * 4 + ["failed"]  # the last one is recorded wrongly: drifted
    records.write_text(
        "".join(
            json.dumps({"transfer": t, "recorded_status": s}) + "\n" for t, s in zip(transfers, recorded, strict=True)
        )
    )

    reconciled = _run(deployment, "reconcile_voipbin", {"records_path": str(records), "report_path": str(report)})
    audited = _run(deployment, "audit_transfers", {"report_path": str(report)})

    [complete] = _task_events(lineage_events, reconciled, "reconcile", "COMPLETE")
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [("file", str(records.resolve()))]
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [("file", str(report.resolve()))]
    counts = complete["run"]["facets"]["transfers_reconciliation"]
    assert (counts["total"], counts["in_sync"], counts["drifted"], counts["error"]) == (5, 4, 1, 0)
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 5

    [audit] = _task_events(lineage_events, audited, "audit", "COMPLETE")
    assert [(d["namespace"], d["name"]) for d in audit["inputs"]] == [("file", str(report.resolve()))]
    assertions = audit["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertions and all(a["success"] for a in assertions)
    assert audit["run"]["facets"]["transfers_audit"]["passed"] is True

    text = lineage_events.read_text()
    creds = sandbox.credentials
    assert [s for s in (creds.voipbin_access_key, creds.twilio_auth_token) if s in text] == []
