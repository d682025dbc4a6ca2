"""``VoipbinCreateTransferOperator(wait_for_completion=True)`` against the sandbox over loopback."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_transfers.operators.voipbin import VoipbinCreateTransferOperator
from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

CTX = cast(Context, {})


def create(call_id: str, **kwargs: Any) -> VoipbinCreateTransferOperator:
    return VoipbinCreateTransferOperator(
        task_id="start",
        transfer_type="blind",
        transferer_call_id=call_id,
        transferee_addresses=[{"type": "tel", "target": "+15551234567"}],
        **kwargs,
    )


@pytest.fixture
def sandbox(transfer_sandbox_env: Any) -> Any:
    return transfer_sandbox_env


def test_blind_transfer_waits_in_process_until_answered(sandbox: Any) -> None:
    sandbox.control.configure(success_rate=1.0, transfer_delay_min_s=0.3, transfer_delay_max_s=0.3)
    call = sandbox.control.create_voipbin_call()
    result = create(call["id"], wait_for_completion=True, poll_interval=0.1, timeout=10).execute(CTX)
    assert result["transferer_call_id"] == call["id"] and result["type"] == "blind"
    assert result["final_check"]["status"] == "completed"
    assert sandbox.control.transfer(result["id"])["status"] == "completed"


def test_unanswered_transfer_fails_the_task(sandbox: Any) -> None:
    sandbox.control.configure(success_rate=0.0, transfer_delay_min_s=0.2, transfer_delay_max_s=0.2)
    call = sandbox.control.create_voipbin_call()
    with pytest.raises(AirflowFailException, match="failed"):
        create(call["id"], wait_for_completion=True, poll_interval=0.1, timeout=10).execute(CTX)


def test_deferrable_wait_defers_to_the_trigger_and_resumes(sandbox: Any) -> None:
    sandbox.control.configure(success_rate=1.0, transfer_delay_min_s=0.3, transfer_delay_max_s=0.3)
    call = sandbox.control.create_voipbin_call()
    operator = create(call["id"], wait_for_completion=True, deferrable=True, poll_interval=0.1, timeout=60)
    with pytest.raises(TaskDeferred) as caught:
        operator.execute(CTX)
    trigger = caught.value.trigger
    assert isinstance(trigger, TransferStatusTrigger) and trigger.conn_id == "voipbin_default"
    assert caught.value.kwargs is not None and caught.value.kwargs["transfer"]["transferer_call_id"] == call["id"]
    event = asyncio.run(anext(trigger.run()))
    result = operator.execute_complete(CTX, event.payload, **caught.value.kwargs)
    assert result["final_check"]["status"] == "completed"


def test_without_waiting_returns_the_transfer_at_once(sandbox: Any) -> None:
    call = sandbox.control.create_voipbin_call()
    result = create(call["id"]).execute(CTX)
    assert "final_check" not in result and result["groupcall_id"]
