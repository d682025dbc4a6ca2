"""VoIPbin operators in real DAG runs (``dag.test()`` on SQLite) against the sandbox over loopback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ROOT, DagRunResult


@pytest.fixture
def answering_sandbox(transfer_sandbox: Any, connection_env: Callable[..., None]) -> Any:
    """Every transfer is answered at once and the transferer stays on the line (attended: consulting)."""
    connection_env(transfer_sandbox.environ())
    transfer_sandbox.control.configure(success_rate=1.0, transfer_delay_min_s=0.0, transfer_delay_max_s=0.0)
    return transfer_sandbox


def test_create_check_complete_chain(answering_sandbox: Any, run_dag: Callable[..., DagRunResult]) -> None:
    call = answering_sandbox.control.create_voipbin_call()
    result = run_dag("voipbin_transfer_chain", conf={"transferer_call_id": call["id"]})

    states = {t: result.task_state(t) for t in ("create_transfer", "check_status", "complete_transfer")}
    assert result.state == "success", states
    created = result.xcom("create_transfer")
    assert created["type"] == "attended" and created["transferer_call_id"] == call["id"]
    checked = result.xcom("check_status")
    assert checked["status"] == "active" and checked["evidence"]["answered"] is True
    completed = result.xcom("complete_transfer")
    assert completed["status"] == "completed" and completed["transfer_id"] == created["id"]
    truth = answering_sandbox.control.transfer(created["id"])
    assert truth["status"] == "completed"
    assert truth["last_request_body"]["transferee_addresses"][1] == {"type": "sip", "target": "bob@example.com"}


def test_blind_transfer_cannot_be_completed(answering_sandbox: Any, run_dag: Callable[..., DagRunResult]) -> None:
    call = answering_sandbox.control.create_voipbin_call()
    result = run_dag("voipbin_transfer_chain", conf={"transferer_call_id": call["id"], "transfer_type": "blind"})
    assert result.task_state("create_transfer") == "success"
    assert result.xcom("check_status")["status"] == "completed"
    assert result.task_state("complete_transfer") == "failed"


def test_bad_call_id_fails_before_any_request(answering_sandbox: Any, run_dag: Callable[..., DagRunResult]) -> None:
    result = run_dag("voipbin_transfer_chain", conf={"transferer_call_id": "not-a-uuid"})
    assert result.task_state("create_transfer") == "failed"
    assert result.task_state("complete_transfer") == "upstream_failed"
    assert answering_sandbox.control.stats()["platforms"].get("voipbin", {}).get("total", 0) == 0


def test_example_dag_start_wait_complete(answering_sandbox: Any, run_dag: Callable[..., DagRunResult]) -> None:
    call = answering_sandbox.control.create_voipbin_call()
    result = run_dag("voipbin_transfer", conf={"transferer_call_id": call["id"]})
    assert result.state == "success", {t: result.task_state(t) for t in ("start_transfer", "wait_for_answer")}
    started = result.xcom("start_transfer")
    assert started["transferer_call_id"] == call["id"]
    assert result.xcom("wait_for_answer")["evidence"]["answered"] is True
    assert result.xcom("complete_transfer")["status"] == "completed"


def test_example_dag_asks_the_sandbox_for_a_call_when_none_is_given(
    answering_sandbox: Any, run_dag: Callable[..., DagRunResult]
) -> None:
    result = run_dag("voipbin_transfer")
    assert result.state == "success"
    assert result.xcom("complete_transfer")["status"] == "completed"


def test_the_docs_attended_transfer_snippet_runs_as_written(
    answering_sandbox: Any, run_dag: Callable[..., DagRunResult], airflow_db: Any
) -> None:
    """The VoIPbin operators page's snippet, copied as written into a DAG file: start, wait for the answer,
    complete."""
    page = (ROOT / "docs" / "operators" / "voipbin.md").read_text()
    snippet = next(block for block in page.split("```python\n")[1:] if "def attended_transfer()" in block)
    (airflow_db / "docs_attended_transfer.py").write_text(snippet.split("```")[0])
    call = answering_sandbox.control.create_voipbin_call()
    result = run_dag("attended_transfer", conf={"transferer_call_id": call["id"]})
    states = {t: result.task_state(t) for t in ("start_transfer", "wait_for_answer", "complete_transfer")}
    assert result.state == "success", states
    assert result.xcom("wait_for_answer")["evidence"]["answered"] is True
    assert result.xcom("complete_transfer")["status"] == "completed"
