"""OpenLineage through its real caller: the OpenLineage provider's listener with a file transport, in
``airflow dags test`` runs (``dag.test()``) of the reconciliation, sharded and audit example DAGs.

Each run is a subprocess: the provider reads its configuration once per process, and the listener is
registered when Airflow loads its plugins, so it cannot be switched on inside this test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.factories import report_row

pytest.importorskip("airflow.providers.openlineage", reason="needs the openlineage extra")


class Lineage:
    """``airflow dags test`` with the listener writing every event to one JSON Lines file."""

    def __init__(self, env: dict[str, str], events: Path) -> None:
        self.env, self.path = env, events

    def run(self, dag_id: str, conf: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", dag_id, "--conf", json.dumps(conf)],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def task_event(self, job: str, event_type: str) -> dict[str, Any]:
        """The one event of that type for a task (``<dag_id>.<task_id>``)."""
        found = [e for e in self.events() if e["job"]["name"] == job and e["eventType"] == event_type]
        assert len(found) == 1, [(e["job"]["name"], e["eventType"]) for e in self.events()]
        return found[0]


@pytest.fixture
def lineage(airflow_db: Path, transfer_sandbox: Any, tmp_path: Path) -> Lineage:
    events = tmp_path / "openlineage.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(transfer_sandbox.environ())
    env.update(
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        AIRFLOW__OPENLINEAGE__NAMESPACE="transfers-tests",
        # The listener emits from a forked process it waits for at most this long (default 10 s).
        AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT="120",
    )
    return Lineage(env, events)


def _write_records(path: Path, transfers: list[dict[str, Any]], recorded: str) -> None:
    path.write_text("".join(json.dumps({"transfer": t, "recorded_status": recorded}) + "\n" for t in transfers))


def _class_counts(report: Path) -> Counter[str]:
    return Counter(json.loads(line)["class"] for line in report.read_text().splitlines())


def _ids(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def _assert_no_secret(lineage: Lineage, transfer_sandbox: Any) -> None:
    creds = transfer_sandbox.credentials
    secrets = (creds.twilio_auth_token, creds.twilio_api_key_secret, creds.voipbin_access_key, creds.voipbin_password)
    text = lineage.path.read_text()
    assert [s for s in secrets if s in text] == []


def test_reconciliation_then_audit_emit_records_in_report_out_with_the_counts(
    lineage: Lineage, transfer_sandbox: Any, tmp_path: Path
) -> None:
    control = transfer_sandbox.control
    completed = control.seed("twilio_flex", 4, outcome="completed", delay_s=0)
    failed = control.seed("twilio_flex", 2, outcome="failed", delay_s=0)
    records, report = tmp_path / "records.jsonl", tmp_path / "reports" / "flex.jsonl"
    _write_records(records, completed + failed, "completed")  # the 2 failed ones are recorded wrongly

    done = lineage.run("reconcile_twilio_flex", {"records_path": str(records), "report_path": str(report)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    audited = lineage.run("audit_transfers", {"report_path": str(report)})
    assert audited.returncode == 0, audited.stdout[-3000:] + audited.stderr[-3000:]

    start = lineage.task_event("reconcile_twilio_flex.reconcile", "START")
    assert _ids(start["inputs"]) == [("file", str(records))]
    assert _ids(start["outputs"]) == [("file", str(report))]
    complete = lineage.task_event("reconcile_twilio_flex.reconcile", "COMPLETE")
    assert _ids(complete["inputs"]) == [("file", str(records))]
    assert _ids(complete["outputs"]) == [("file", str(report))]
    output = complete["outputs"][0]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 6
    assert [f["name"] for f in output["facets"]["schema"]["fields"]][:3] == ["row", "platform", "transfer_id"]
    facet = complete["run"]["facets"]["transfers_reconciliation"]
    classes = _class_counts(report)
    assert classes == Counter(in_sync=4, drifted=2)
    assert {k: facet[k] for k in ("total", "in_sync", "drifted", "stale", "not_found", "error", "duplicate")} == {
        "total": 6, "in_sync": 4, "drifted": 2, "stale": 0, "not_found": 0, "error": 0, "duplicate": 0,
    }  # fmt: skip
    assert facet["records_source"] == "file" and facet["_producer"] and facet["_schemaURL"].startswith("https://")

    audit = lineage.task_event("audit_transfers.audit", "COMPLETE")
    assert _ids(audit["inputs"]) == [("file", str(report))]
    assertions = audit["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert {a["assertion"]: a["success"] for a in assertions} == {
        "max_failed_ratio": True, "max_drifted": True, "max_stale": True, "max_errors": True, "max_not_found": True,
    }  # fmt: skip
    result = audit["run"]["facets"]["transfers_audit"]
    assert result["passed"] is True and result["total"] == 6 and result["failed"] == 2
    assert result["failed_ratio"] == pytest.approx(2 / 6, abs=1e-6)
    _assert_no_secret(lineage, transfer_sandbox)


def test_a_broken_audit_rule_is_a_failed_assertion_in_the_fail_event(lineage: Lineage, tmp_path: Path) -> None:
    report = tmp_path / "bad.jsonl"
    report.write_text(json.dumps(report_row("not_found", "")) + "\n")

    done = lineage.run("audit_transfers", {"report_path": str(report)})

    assert done.returncode != 0
    fail = lineage.task_event("audit_transfers.audit", "FAIL")
    assert _ids(fail["inputs"]) == [("file", str(report))]
    assertions = fail["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    broken = [(a["assertion"], a["expected"], a["actual"]) for a in assertions if not a["success"]]
    assert broken == [("max_not_found", "<= 0", "1")]
    result = fail["run"]["facets"]["transfers_audit"]
    assert result["passed"] is False
    assert [r["rule"] for r in result["rules"] if r["broken"]] == ["max_not_found"]
    assert "max_not_found" in fail["run"]["facets"]["errorMessage"]["message"]


def test_sharded_reconciliation_emits_each_shard_and_a_merge_of_the_shard_reports(
    lineage: Lineage, transfer_sandbox: Any, tmp_path: Path
) -> None:
    transfers = transfer_sandbox.control.seed("twilio_flex", 8, outcome="completed", delay_s=0)
    records, report = tmp_path / "records.jsonl", tmp_path / "sharded.jsonl"
    _write_records(records, transfers, "completed")

    done = lineage.run("reconcile_sharded", {"records_path": str(records), "report_path": str(report)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    shard_reports = [("file", str(tmp_path / f"sharded.shard-{i}-of-4.jsonl")) for i in range(4)]
    shards = [e for e in lineage.events() if e["job"]["name"] == "reconcile_sharded.reconcile"]
    completes = [e for e in shards if e["eventType"] == "COMPLETE"]
    assert len(completes) == 4
    assert all(_ids(e["inputs"]) == [("file", str(records))] for e in completes)
    by_shard = {e["run"]["facets"]["transfers_reconciliation"]["shard"]: e for e in completes}
    assert sorted(by_shard) == [0, 1, 2, 3]
    for shard, event in by_shard.items():
        assert _ids(event["outputs"]) == [shard_reports[shard]]
        assert event["run"]["facets"]["transfers_reconciliation"]["total"] == 2
    merge = lineage.task_event("reconcile_sharded.merge", "COMPLETE")
    assert _ids(merge["inputs"]) == shard_reports
    assert _ids(merge["outputs"]) == [("file", str(report))]
    assert merge["run"]["facets"]["transfers_reconciliation"]["in_sync"] == 8
