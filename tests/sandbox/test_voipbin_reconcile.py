"""A reconciliation over VoIPbin records some of which belong to another customer, against the sandbox over
loopback, through ``TransferReconciliationOperator`` and in a real ``dag.test()`` run of the example DAG.

Another customer's call or groupcall answers 403 PERMISSION_DENIED (bin-api-manager pkg/servicehandler/
call.go:148-158, groupcall.go:109-119 at voipbin/monorepo 2bf22fa4; before April 2026 a bare 400): that record
is a row of class ``error``, every other row is classified as the sandbox's ground truth says. Credentials
without the customer admin/manager permission get the same 403 everywhere, the list included
(servicehandler/etc.go:13-27, call.go:185-188): that stops the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_transfers.operators.reconcile import TransferReconciliationOperator
from airflow_provider_transfers.sandbox.server import TransferSandbox
from tests.conftest import DagRunResult

OTHER_CUSTOMER = "0b0b0b0b-0000-4000-8000-0b0b0b0b0b0b"
AGENT = {"type": "agent", "target": "7f0c2f4e-0000-4000-8000-00000000a9e1"}
TEL = {"type": "tel", "target": "+15550001111"}
CONFERENCE = {"type": "conference", "target": "7f0c2f4e-0000-4000-8000-0000000000cf"}


def _staged(sandbox: TransferSandbox) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(ours, theirs): transfers of the sandbox's customer in many states, and two of another customer."""
    control = sandbox.control
    control.configure(rate_limit=False)
    ours = control.seed("voipbin", 2, outcome="completed", delay_s=0)
    ours += control.seed("voipbin", 1, outcome="failed", delay_s=0)
    ours += control.seed("voipbin", 1, transfer_type="attended", outcome="completed", delay_s=0)
    ours += control.seed("voipbin", 1, transfer_type="attended", delay_s=3600)
    [left] = control.seed("voipbin", transfer_type="attended", delay_s=3600)
    control.voipbin_event(left["id"], "answer")
    control.voipbin_event(left["id"], "caller_hangup")  # recorded with a transferee_call_id, yet failed
    [nested] = control.seed("voipbin", addresses=[AGENT, TEL], delay_s=3600)
    control.voipbin_event(nested["id"], "answer", address=0)  # completed, recorded nowhere
    [stuck] = control.seed("voipbin", addresses=[TEL, CONFERENCE], delay_s=3600)
    control.voipbin_event(stuck["id"], "no_answer")  # the groupcall stays progressing for good
    ours += [left, nested, stuck, *control.seed("voipbin", master="agent", delay_s=3600)]
    theirs = control.seed("voipbin", customer_id=OTHER_CUSTOMER, delay_s=3600)
    theirs += control.seed("voipbin", transfer_type="attended", customer_id=OTHER_CUSTOMER, delay_s=3600)
    return ours, theirs


def _records(transfers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"transfer": t, "recorded_status": "completed"} for t in transfers]


def _rows(report: Path) -> dict[str, dict[str, Any]]:
    return {r["transfer_id"]: r for r in map(json.loads, report.read_text().splitlines())}


def _assert_classified(sandbox: TransferSandbox, rows: dict[str, dict[str, Any]], ours: list, theirs: list) -> None:
    for transfer in theirs:
        row = rows[transfer["id"]]
        assert row["class"] == "error" and row["actual_status"] == "", row
        if sandbox.control.config()["voipbin_wire"] == "legacy":
            assert "400" in row["detail"] and "another customer" in row["detail"], row["detail"]
        else:
            assert row["detail"].startswith("voipbin API error 403 PERMISSION_DENIED")  # no class name: the message
            assert (
                f"/calls/{transfer['transferer_call_id']}" in row["detail"] or transfer["groupcall_id"] in row["detail"]
            )
    for transfer in ours:
        truth = sandbox.control.transfer(transfer["id"])["status"]
        row = rows[transfer["id"]]
        assert row["actual_status"] == truth, (transfer["id"], row, truth)
        assert row["class"] == ("in_sync" if truth == "completed" else "drifted"), row


@pytest.mark.parametrize("wire", ["current", "legacy"])
def test_reconciliation_keeps_another_customers_records_as_error_rows(
    transfer_sandbox: TransferSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, wire: str
) -> None:
    for name, value in transfer_sandbox.connection_env().items():
        monkeypatch.setenv(name, value)
    transfer_sandbox.control.configure(voipbin_wire=wire)
    ours, theirs = _staged(transfer_sandbox)
    records = _records(ours[:3] + theirs[:1] + ours[3:] + theirs[1:])
    report = tmp_path / "report.jsonl"
    op = TransferReconciliationOperator(
        task_id="reconcile", conn_id="voipbin_default", records=json.dumps(records), output_path=str(report)
    )
    summary = op.execute({"outlet_events": mock.MagicMock()})  # type: ignore[arg-type]
    assert summary["total"] == len(records) and summary["error"] == len(theirs)
    statuses = {transfer_sandbox.control.transfer(t["id"])["status"] for t in ours}
    assert statuses == {"completed", "failed", "active"}
    _assert_classified(transfer_sandbox, _rows(report), ours, theirs)


def test_credentials_without_the_permission_stop_the_reconciliation(
    transfer_sandbox: TransferSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in transfer_sandbox.connection_env().items():
        monkeypatch.setenv(name, value)
    ours, theirs = _staged(transfer_sandbox)
    transfer_sandbox.control.configure(voipbin_permission=False)
    op = TransferReconciliationOperator(
        task_id="reconcile",
        conn_id="voipbin_default",
        records=json.dumps(_records(ours + theirs)),
        output_path=str(tmp_path / "report.jsonl"),
    )
    with pytest.raises(AirflowFailException, match=r"stopped at the first authentication failure.*GET /calls"):
        op.execute({"outlet_events": mock.MagicMock()})  # type: ignore[arg-type]


def test_the_example_dag_reconciles_another_customers_records_as_errors(
    transfer_sandbox: TransferSandbox,
    run_dag: Callable[..., DagRunResult],
    connection_env: Callable[..., None],
    tmp_path: Path,
) -> None:
    connection_env(transfer_sandbox.connection_env())
    ours, theirs = _staged(transfer_sandbox)
    records, report = tmp_path / "records.jsonl", tmp_path / "voipbin.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in _records(theirs + ours)))

    result = run_dag("reconcile_voipbin", conf={"records_path": str(records), "report_path": str(report)})

    assert result.state == "success", result.task_state("reconcile")
    assert result.xcom("reconcile")["error"] == len(theirs)
    _assert_classified(transfer_sandbox, _rows(report), ours, theirs)
