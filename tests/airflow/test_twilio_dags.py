"""Twilio Flex operators in a real DAG run (``dag.test()`` on SQLite) against the sandbox over loopback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import DagRunResult


def test_create_then_update_through_dag_test(
    transfer_sandbox: Any, run_dag: Callable[..., DagRunResult], connection_env: Callable[..., None]
) -> None:
    connection_env(transfer_sandbox.connection_env())
    transfer_sandbox.control.configure(success_rate=1.0, transfer_delay_min_s=0.5, transfer_delay_max_s=1.0)
    channel = transfer_sandbox.control.create_twilio_interaction()

    result = run_dag(
        "twilio_flex_transfer",
        conf={"interaction_sid": channel["interaction_sid"], "channel_sid": channel["channel_sid"]},
    )

    assert result.state == "success", (result.task_state("create_transfer"), result.task_state("update_transfer"))
    created = result.xcom("create_transfer")
    updated = result.xcom("update_transfer")
    assert created["sid"].startswith("UX") and created["interaction_sid"] == channel["interaction_sid"]
    assert updated["sid"] == created["sid"]
    truth = transfer_sandbox.control.transfer(created["sid"])
    assert truth["last_request_body"] == {"note": "escalated by twilio_flex_transfer"}
    final = result.xcom("wait_for_transfer")
    assert final["transfer_id"] == created["sid"] and final["status"] == truth["status"] == "completed"


def test_bad_templated_sid_fails_the_task_before_any_request(
    transfer_sandbox: Any, run_dag: Callable[..., DagRunResult], connection_env: Callable[..., None]
) -> None:
    connection_env(transfer_sandbox.connection_env())
    result = run_dag("twilio_flex_transfer", conf={"interaction_sid": "KD" + "0" * 32, "channel_sid": "UO" + "0" * 32})
    assert result.task_state("create_transfer") == "failed"  # unknown interaction: 404 from the sandbox
    assert result.task_state("update_transfer") == "upstream_failed"
    assert result.task_state("wait_for_transfer") == "upstream_failed"
