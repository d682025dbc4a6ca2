"""The reconciliation and audit example DAGs in real ``dag.test()`` runs against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DagRunResult


def _write_records(path: Path, transfers: list[dict[str, Any]], recorded: str) -> None:
    path.write_text("".join(json.dumps({"transfer": t, "recorded_status": recorded}) + "\n" for t in transfers))


def _asset_events(name: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return [dict(e.extra or {}) for e in rows.filter(AssetModel.name == name).all()]


def test_twilio_reconciliation_dag_writes_the_report_and_records_an_asset_event(
    transfer_sandbox: Any, run_dag: Callable[..., DagRunResult], connection_env: Callable[..., None], tmp_path: Path
) -> None:
    connection_env(transfer_sandbox.connection_env())
    control = transfer_sandbox.control
    done = control.seed("twilio_flex", 3, outcome="completed", delay_s=0)
    active = control.seed("twilio_flex", 2, delay_s=3600)
    records, report = tmp_path / "records.jsonl", tmp_path / "reports" / "twilio.jsonl"
    _write_records(records, done + active, "completed")

    result = run_dag("reconcile_twilio_flex", conf={"records_path": str(records), "report_path": str(report)})

    assert result.state == "success", result.task_state("reconcile")
    summary = result.xcom("reconcile")
    assert summary["total"] == 5 and summary["in_sync"] == 3 and summary["drifted"] == 2
    assert summary["report"] == str(report)
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["row"] for r in rows] == [1, 2, 3, 4, 5]
    assert not report.with_name(report.name + ".partial").exists()
    events = _asset_events("transfer_reconciliation/twilio_flex")
    assert any(e.get("report") == str(report) and e.get("total") == 5 for e in events), events


def test_voipbin_reconciliation_then_audit(
    transfer_sandbox: Any, run_dag: Callable[..., DagRunResult], connection_env: Callable[..., None], tmp_path: Path
) -> None:
    connection_env(transfer_sandbox.connection_env())
    control = transfer_sandbox.control
    completed = control.seed("voipbin", 3, outcome="completed", delay_s=0)
    failed = control.seed("voipbin", 1, outcome="failed", delay_s=0)
    records, report = tmp_path / "records.csv", tmp_path / "voipbin.csv"
    fields = ("id", "type", "groupcall_id", "transferer_call_id")
    lines = [",".join((*fields, "recorded_status"))]
    lines += [",".join([*(t[f] for f in fields), "completed"]) for t in completed + failed]
    records.write_text("\n".join(lines) + "\n")

    result = run_dag("reconcile_voipbin", conf={"records_path": str(records), "report_path": str(report)})
    assert result.state == "success", result.task_state("reconcile")
    assert result.xcom("reconcile")["in_sync"] == 3 and result.xcom("reconcile")["drifted"] == 1

    audited = run_dag("audit_transfers", conf={"report_path": str(report)})
    assert audited.state == "success", audited.task_state("audit")
    assert audited.xcom("reports_to_audit") == [{"report_path": str(report), "expected_total": None}]


def test_audit_dag_fails_on_a_broken_rule(run_dag: Callable[..., DagRunResult], tmp_path: Path) -> None:
    report = tmp_path / "bad.jsonl"
    row = {
        "platform": "voipbin", "transfer_id": "x", "reference": {}, "recorded_status": "completed",
        "actual_status": "", "class": "not_found", "detail": "gone", "action": "", "checked_at": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    report.write_text(json.dumps({"row": 1, **row}) + "\n")
    result = run_dag("audit_transfers", conf={"report_path": str(report)})
    assert result.state == "failed"


def test_reconciliation_dag_with_a_refused_password_fails_after_one_login(
    transfer_sandbox: Any, run_dag: Callable[..., DagRunResult], connection_env: Callable[..., None], tmp_path: Path
) -> None:
    """The example DAG sets ``retries=2``; a refused credential fails the task at once, without retries."""
    wrong = {"conn_type": "voipbin", "host": transfer_sandbox.voipbin_url, "login": "sandbox", "password": "nope-nope"}
    connection_env({"AIRFLOW_CONN_VOIPBIN_DEFAULT": json.dumps(wrong)})
    transfers = transfer_sandbox.control.seed("voipbin", 30, outcome="completed", delay_s=0)
    records, report = tmp_path / "records.jsonl", tmp_path / "voipbin.jsonl"
    fields = ("id", "type", "groupcall_id", "transferer_call_id")
    _write_records(records, [{k: t[k] for k in fields} for t in transfers], "completed")

    result = run_dag("reconcile_voipbin", conf={"records_path": str(records), "report_path": str(report)})

    assert result.state == "failed" and result.task_state("reconcile") == "failed"
    endpoints = transfer_sandbox.control.stats()["platforms"]["voipbin"]["endpoints"]
    logins = sum(n for name, outcomes in endpoints.items() if "login" in name for n in outcomes.values())
    assert logins == 1, endpoints
    assert not report.exists()


def test_sharded_reconciliation_dag_equals_a_single_task_run(
    transfer_sandbox: Any, run_dag: Callable[..., DagRunResult], connection_env: Callable[..., None], tmp_path: Path
) -> None:
    connection_env(transfer_sandbox.connection_env())
    control = transfer_sandbox.control
    done = control.seed("twilio_flex", 6, outcome="completed", delay_s=0)
    failed = control.seed("twilio_flex", 3, outcome="failed", delay_s=0)
    active = control.seed("twilio_flex", 2, delay_s=3600)
    missing = [{**done[0], "sid": "UX" + "f" * 32}]
    records = tmp_path / "records.jsonl"
    transfers = [t for group in zip(done, failed + active + missing, strict=False) for t in group] + done[4:]
    _write_records(records, transfers, "completed")
    single, sharded = tmp_path / "single.jsonl", tmp_path / "sharded.jsonl"

    one = run_dag("reconcile_twilio_flex", conf={"records_path": str(records), "report_path": str(single)})
    four = run_dag("reconcile_sharded", conf={"records_path": str(records), "report_path": str(sharded)})

    assert one.state == "success" and four.state == "success", four.task_state("merge")
    merged = four.xcom("merge")
    assert {**merged, "report": ""} == {**one.xcom("reconcile"), "report": ""}
    assert merged["total"] == 14 and merged["not_found"] == 1 and merged["report"] == str(sharded)

    def rows(path: Path) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in path.read_text().splitlines()]
        return [{k: v for k, v in r.items() if k != "checked_at"} for r in found]

    assert rows(sharded) == rows(single)
    assert [r["row"] for r in rows(sharded)] == list(range(1, 15))
    for shard in range(4):
        assert (tmp_path / f"sharded.shard-{shard}-of-4.jsonl").exists()
        manifest = json.loads((tmp_path / f"sharded.shard-{shard}-of-4.jsonl.manifest.json").read_text())
        assert manifest["shard"] == {"shard": shard, "shards": 4} and manifest["input"]["records"] == 14
        assert manifest["run"]["task_id"] == "reconcile" and manifest["run"]["map_index"] == shard
    from airflow_provider_transfers.operators.reconcile import TransferAuditOperator

    audit = TransferAuditOperator(task_id="audit", report_path=str(sharded), expected_total=merged["total"])
    assert audit.execute({})["integrity"]["total_from"] == "expected_total"  # type: ignore[arg-type]
    events = _asset_events("transfer_reconciliation/twilio_flex")
    assert any(e.get("report") == str(sharded) and e.get("total") == 14 for e in events), events


def test_a_second_writer_during_a_dag_run_is_refused_naming_the_dag_run(
    transfer_sandbox: Any, run_dag: Callable[..., DagRunResult], connection_env: Callable[..., None], tmp_path: Path
) -> None:
    """A worker process trying to write the report a ``dag.test()`` run is writing: refused at once, told
    which DAG run, task and try hold it; the DAG run commits the report alone and its audit passes."""
    from tests.unit.reconcile_processes import Child, assert_exact_report

    env = transfer_sandbox.connection_env()
    connection_env(env)
    transfer_sandbox.control.configure(latency_ms=40)
    transfers = transfer_sandbox.control.seed("twilio_flex", 150, outcome="completed", delay_s=0)
    records, report = tmp_path / "records.jsonl", tmp_path / "reports" / "twilio.jsonl"
    _write_records(records, transfers, "completed")
    lock = report.with_name("twilio.jsonl.lock")
    other = Child(tmp_path, "other", env, {"records": str(records), "output_path": str(report)}, wait_for=lock)
    other.start().wait_ready()

    result = run_dag("reconcile_twilio_flex", conf={"records_path": str(records), "report_path": str(report)})

    assert result.state == "success", result.task_state("reconcile")
    refused = other.outcome()
    assert refused["error"] == "ReportLockedError", refused
    run_id = result.dag_run.run_id
    assert f"dag 'reconcile_twilio_flex', task 'reconcile', run '{run_id}', try 1, host " in refused["message"]
    assert_exact_report(report, [(t["sid"], "in_sync") for t in transfers])
    manifest = json.loads(report.with_name("twilio.jsonl.manifest.json").read_text())
    assert manifest["run"]["dag_id"] == "reconcile_twilio_flex" and manifest["run"]["run_id"] == run_id
    audited = run_dag("audit_transfers", conf={"report_path": str(report)})
    assert audited.state == "success", audited.task_state("audit")


def test_the_audit_dag_audits_each_triggering_report_against_the_total_its_event_carries(
    airflow_db: Path, monkeypatch: Any
) -> None:
    """What an Asset-scheduled run of ``audit_transfers`` maps over: each triggering Asset's newest event's
    report and total (``dag.test()`` has no triggering events, so the task's callable is called with them)."""
    from types import SimpleNamespace

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(airflow_db)).get_dag("audit_transfers")
    assert dag is not None
    callable_ = dag.get_task("reports_to_audit").python_callable  # type: ignore[attr-defined]
    events = {
        "twilio": [SimpleNamespace(extra={"report": "/r/old.jsonl", "total": 3}),
                   SimpleNamespace(extra={"report": "/r/new.jsonl", "total": 5})],
        "voipbin": [SimpleNamespace(extra={"report": "s3://b/v.csv", "total": 0})],
    }  # fmt: skip
    context = {"params": {"report_path": ""}, "triggering_asset_events": events}
    monkeypatch.setitem(callable_.__globals__, "get_current_context", lambda: context)
    assert callable_() == [
        {"report_path": "/r/new.jsonl", "expected_total": 5},
        {"report_path": "s3://b/v.csv", "expected_total": 0},
    ]
    audit = dag.get_task("audit")
    assert "expected_total" in audit.template_fields  # type: ignore[attr-defined]


def test_a_records_location_with_credentials_fails_the_run_at_once_without_showing_them(
    transfer_sandbox: Any,
    run_dag: Callable[..., DagRunResult],
    connection_env: Callable[..., None],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """``user:password@`` in an object storage URL: the example DAG (``retries=2``) fails without retries or a
    request, and neither its logs nor its XCom show the credentials."""
    connection_env(transfer_sandbox.connection_env())
    report = tmp_path / "twilio.jsonl"
    given = "s3://AKIAEXAMPLE:s3cr3t-value@bucket/records.jsonl"

    result = run_dag("reconcile_twilio_flex", conf={"records_path": given, "report_path": str(report)})

    assert result.state == "failed" and result.task_state("reconcile") == "failed"
    shown = "".join(capfd.readouterr())
    assert "holds credentials" in shown and "<conn_id>@" in shown
    assert "s3cr3t" not in shown and "AKIAEXAMPLE" not in shown
    assert result.xcom("reconcile") is None
    assert transfer_sandbox.control.stats()["total"] == 0
    assert not report.exists()
