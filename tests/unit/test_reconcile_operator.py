"""``TransferReconciliationOperator``: arguments, the report Asset, and a run through the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_transfers.operators.reconcile import TransferReconciliationOperator, report_asset_for
from airflow_provider_transfers.reconcile.actions import ActionMode


def _op(**kwargs: Any) -> TransferReconciliationOperator:
    args: dict[str, Any] = {"task_id": "reconcile", "conn_id": "twilio_flex_default", "records": []}
    return TransferReconciliationOperator(**{**args, "output_path": "/tmp/reports/r.jsonl", **kwargs})


def test_the_report_is_an_asset_outlet_derived_from_a_literal_output_path() -> None:
    op = _op()
    assert op.report_asset == Asset(uri="file:///tmp/reports/r.jsonl")
    assert op.outlets == [op.report_asset]
    assert report_asset_for("s3://bucket/r.csv").uri == "s3://bucket/r.csv"


def test_a_templated_output_path_needs_the_asset_given() -> None:
    assert _op(output_path="/tmp/{{ ds }}.jsonl").outlets == []
    named = _op(output_path="/tmp/{{ ds }}.jsonl", report_asset="transfer_reconciliation/twilio_flex")
    assert named.outlets == [Asset(name="transfer_reconciliation/twilio_flex")]
    given = Asset(name="reports", uri="s3://bucket/reports/")
    assert _op(report_asset=given, outlets=[given]).outlets == [given]


def test_arguments_become_options_and_policy() -> None:
    op = _op(
        stale_after="90m",
        max_concurrency=200,
        rate_limit=5,
        http_policy={"timeout": 2},
        act_on_stale=True,
        dry_run=True,
        stale_action_body='{"status": "failed"}',
    )
    options = op.options()
    assert options.stale_after is not None and options.stale_after.total_seconds() == 5400
    assert options.stale_action.mode is ActionMode.DRY_RUN and options.stale_action.body == {"status": "failed"}
    assert op._policy() == {"timeout": 2, "rate_limit": 5, "max_connections": 200}
    assert _op(http_policy={"max_connections": 8})._policy()["max_connections"] == 8
    assert callable(op.dry_run)  # BaseOperator.dry_run stays a method
    with pytest.raises(ValueError, match="on_invalid"):
        _op(on_invalid="ignore")
    with pytest.raises(ValueError, match="stale_after"):
        _op(stale_after="forever")


def test_execute_runs_through_the_hook_of_the_connection_type(
    transfer_sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in transfer_sandbox.connection_env().items():
        monkeypatch.setenv(name, value)
    transfers = transfer_sandbox.control.seed("voipbin", 2, outcome="failed", delay_s=0)
    out = tmp_path / "r.csv"
    op = _op(
        conn_id="voipbin_default",
        records=json.dumps([{"transfer": t, "recorded_status": "failed"} for t in transfers]),
        output_path=str(out),
    )
    events: Any = mock.MagicMock()
    summary = op.execute({"outlet_events": events})  # type: ignore[arg-type]
    assert summary["in_sync"] == 2 and summary["report"] == str(out)
    assert out.read_text().count("\n") == 3
    events.__getitem__.assert_called_with(op.report_asset)
    assert events[op.report_asset].extra["total"] == 2


def test_invalid_records_fail_the_task_without_retries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TWILIO_FLEX_DEFAULT",
        json.dumps(
            {"conn_type": "twilio_flex", "login": "AC" + "1" * 32, "password": "x", "host": "http://127.0.0.1:9"}
        ),
    )
    op = _op(records=[{"recorded_status": "completed"}], output_path=str(tmp_path / "r.jsonl"))
    with pytest.raises(AirflowFailException, match=r"record 1: Invalid transfer\['interaction_sid'\]"):
        op.execute({"outlet_events": mock.MagicMock()})  # type: ignore[arg-type]


def test_bad_arguments_fail_without_retries(tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match="cannot tell the report format"):
        _op(output_path=str(tmp_path / "report.json")).execute({})  # type: ignore[arg-type]
    with pytest.raises(AirflowFailException, match="records text is neither"):
        _op(records="[not json").execute({})  # type: ignore[arg-type]


def test_a_records_file_of_unknown_extension_names_the_records_format_argument(tmp_path: Path) -> None:
    records = tmp_path / "transfers.json"
    records.write_text("[]")
    with pytest.raises(AirflowFailException) as caught:
        _op(records=str(records), output_path=str(tmp_path / "r.jsonl")).execute({})  # type: ignore[arg-type]
    message = str(caught.value)
    assert f"cannot tell the records format from {records}" in message
    assert "pass records_format='jsonl' (JSON Lines: one JSON object per line) or records_format='csv'" in message
    with pytest.raises(AirflowFailException, match="pass report_format='jsonl'"):
        _op(output_path=str(tmp_path / "report.json")).execute({})  # type: ignore[arg-type]


def test_an_invalid_row_keeps_the_ids_and_status_that_were_valid(
    transfer_sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in transfer_sandbox.connection_env().items():
        monkeypatch.setenv(name, value)
    transfer = transfer_sandbox.control.seed("twilio_flex", 1, outcome="completed", delay_s=0)[0]
    ids = {k: transfer[k] for k in ("interaction_sid", "channel_sid", "sid")}
    records = [
        {"transfer": transfer, "recorded_status": "done"},  # the ids are fine, the status is not
        {**ids, "recorded_status": "completed", "created_at": "yesterday"},  # ids and status fine
        {**ids, "sid": "UX-not-a-sid", "recorded_status": "completed"},  # no valid reference
        {"transfer": transfer, "recorded_status": "completed"},
    ]
    out = tmp_path / "r.jsonl"
    summary = _op(records=records, output_path=str(out), on_invalid="report").execute(
        {"outlet_events": mock.MagicMock()}  # type: ignore[arg-type]
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["class"] for r in rows] == ["error", "error", "error", "in_sync"] and summary["error"] == 3
    assert [(r["transfer_id"], r["reference"]) for r in rows[:2]] == [(transfer["sid"], ids)] * 2
    assert [r["recorded_status"] for r in rows[:3]] == ["", "completed", "completed"]
    assert rows[0]["detail"].startswith("invalid record: record 1: field 'recorded_status' must be one of")
    assert "field 'created_at' must be an ISO 8601 date-time" in rows[1]["detail"]
    assert (rows[2]["transfer_id"], rows[2]["reference"]) == ("", {})
    assert rows[2]["detail"].startswith("invalid record: record 3: Invalid transfer['sid']")
