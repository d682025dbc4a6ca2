"""``TransferWaitMixin`` on ``TwilioFlexUpdateTransferOperator``: in-process and deferrable waiting."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_transfers.operators.twilio_flex import TwilioFlexUpdateTransferOperator
from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

CTX = cast(Context, {})


@pytest.fixture
def sandbox(transfer_sandbox_env: Any) -> Any:
    return transfer_sandbox_env


def update(transfer: dict[str, Any], **kwargs: Any) -> TwilioFlexUpdateTransferOperator:
    return TwilioFlexUpdateTransferOperator(
        task_id="update",
        interaction_sid=transfer["interaction_sid"],
        channel_sid=transfer["channel_sid"],
        transfer_sid=transfer["sid"],
        body={"note": "escalate"},
        **kwargs,
    )


def test_without_waiting_the_update_returns_at_once(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=30)
    result = update(transfer).execute(CTX)
    assert result["sid"] == transfer["sid"] and result["status"] == "active"
    assert "final_check" not in result


def test_waits_in_process_and_returns_the_transfer_plus_final_check(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=0.4)
    started = time.monotonic()

    result = update(transfer, wait_for_completion=True, poll_interval=0.1, timeout=10).execute(CTX)

    assert 0.3 < time.monotonic() - started < 3
    assert result["sid"] == transfer["sid"]
    assert result["final_check"]["status"] == "completed"
    assert sandbox.control.transfer(transfer["sid"])["last_request_body"] == {"note": "escalate"}


def test_a_failed_transfer_fails_the_task_without_retries(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="failed", delay_s=0.2)
    with pytest.raises(AirflowFailException, match=rf"request succeeded.*{transfer['sid']}: failed"):
        update(transfer, wait_for_completion=True, poll_interval=0.1).execute(CTX)


def test_in_process_timeout_checks_at_the_deadline_then_fails(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=30)
    started = time.monotonic()
    with pytest.raises(AirflowFailException, match="Timed out"):
        update(transfer, wait_for_completion=True, poll_interval=30, timeout=0.3).execute(CTX)
    assert time.monotonic() - started < 2


def test_deferrable_hands_the_wait_to_the_trigger_and_resumes_with_the_transfer(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=0.4)
    operator = update(transfer, wait_for_completion=True, deferrable=True, poll_interval=0.1, timeout=60)

    with pytest.raises(TaskDeferred) as caught:
        operator.execute(CTX)

    trigger = caught.value.trigger
    assert isinstance(trigger, TransferStatusTrigger)
    assert trigger.deadline is not None
    assert caught.value.kwargs is not None and caught.value.kwargs["transfer"]["sid"] == transfer["sid"]
    event = asyncio.run(anext(trigger.run()))
    assert "transfers" not in event.payload
    result = operator.execute_complete(CTX, event.payload, **caught.value.kwargs)
    assert result["sid"] == transfer["sid"] and result["final_check"]["status"] == "completed"


def test_deferrable_does_not_defer_when_the_transfer_is_already_done(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=0)
    result = update(transfer, wait_for_completion=True, deferrable=True).execute(CTX)
    assert result["final_check"]["status"] == "completed"


def test_waiting_arguments_are_checked() -> None:
    transfer = {"interaction_sid": "KD" + "0" * 32, "channel_sid": "UO" + "0" * 32, "sid": "UX" + "0" * 32}
    with pytest.raises(ValueError, match="poll_interval"):
        update(transfer, wait_for_completion=True, poll_interval=0)
    with pytest.raises(ValueError, match="timeout"):
        update(transfer, wait_for_completion=True, timeout=-1)
