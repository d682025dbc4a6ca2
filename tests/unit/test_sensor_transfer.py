"""``TransferStatusSensor``: poke logic, deferral and event handling, against the sandbox over loopback."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, cast

import pytest
from airflow.sdk import Context
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_transfers.sensors.transfer import TransferStatusSensor
from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

TWILIO = "twilio_flex_default"
VOIPBIN = "voipbin_default"
NO_RETRY = {"max_attempts": 1, "backoff_initial": 0.0}
CTX = cast(Context, {})


def sensor(conn_id: str, transfer: Any, **kwargs: Any) -> TransferStatusSensor:
    kwargs.setdefault("poke_interval", 0.1)
    kwargs.setdefault("timeout", 10)
    return TransferStatusSensor(task_id="wait", conn_id=conn_id, transfer=transfer, **kwargs)


@pytest.fixture
def sandbox(transfer_sandbox_env: Any) -> Any:
    return transfer_sandbox_env


# --------------------------------------------------------------------------------------------- poke


def test_poke_waits_while_active_then_returns_the_final_check(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=3600)
    task = sensor(TWILIO, transfer)

    assert task.poke(CTX).is_done is False
    sandbox.control.set_outcome(transfer["sid"], "completed")  # between the pokes, however slow the machine
    done = task.poke(CTX)

    assert done.is_done is True
    assert done.xcom_value["transfer_id"] == transfer["sid"]
    assert done.xcom_value["status"] == "completed"
    assert done.xcom_value["platform"] == "twilio_flex"


def test_poke_of_a_list_returns_a_list_and_skips_finished_transfers(sandbox: Any) -> None:
    transfers = sandbox.control.seed("voipbin", 2, outcome="completed", delay_s=0)
    [late] = sandbox.control.seed("voipbin", outcome="completed", delay_s=3600)
    task = sensor(VOIPBIN, [*transfers, late])

    assert task.poke(CTX).is_done is False
    sandbox.control.set_outcome(late["id"], "completed")
    done = task.poke(CTX)

    assert [c["transfer_id"] for c in done.xcom_value] == [t["id"] for t in (*transfers, late)]
    assert sandbox.control.stats()["platforms"]["voipbin"]["total"] == 3 + 1  # finished ones not re-checked


def test_poke_fails_at_once_naming_each_failed_transfer(sandbox: Any) -> None:
    good = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=5)
    bad = sandbox.control.seed("twilio_flex", 2, outcome="failed", delay_s=0)

    with pytest.raises(AirflowFailException) as caught:
        sensor(TWILIO, [*good, *bad]).poke(CTX)

    message = str(caught.value)
    assert "2 of 3" in message and all(t["sid"] in message for t in bad)
    assert good[0]["sid"] not in message


def test_poke_tolerates_transient_errors_up_to_the_limit(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=0)
    sandbox.control.configure(faults={"503": 1.0})
    task = sensor(TWILIO, transfer, policy=NO_RETRY, max_consecutive_errors=2)

    assert task.poke(CTX).is_done is False  # first 503: keep waiting
    with pytest.raises(AirflowException) as caught:  # second in a row: give up
        task.poke(CTX)

    assert not isinstance(caught.value, AirflowFailException)  # task retries may still help
    assert "2 consecutive" in str(caught.value) and "503" in str(caught.value)


def test_poke_not_found_fails_without_retries(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("voipbin")
    missing = {**transfer, "groupcall_id": str(uuid.uuid4())}
    with pytest.raises(AirflowFailException, match="not found"):
        sensor(VOIPBIN, missing).poke(CTX)


def test_poke_rejects_a_transfer_of_the_other_platform_before_any_request(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("voipbin")
    with pytest.raises(AirflowFailException, match=r"twilio_flex.*sid"):
        sensor(TWILIO, transfer).poke(CTX)
    assert sandbox.control.stats()["total"] == 0


def test_templated_text_is_parsed_as_json_or_as_a_python_literal(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=0)
    for rendered in (json.dumps(transfer), str(transfer), json.dumps([transfer])):
        task = sensor(TWILIO, "{{ ti.xcom_pull('create') }}")
        task.transfer = rendered  # what rendering leaves in the field
        assert task.poke(CTX).is_done is True


# --------------------------------------------------------------------------------------------- timeout in poke mode


def test_poke_mode_checks_once_more_at_the_timeout(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=0.6)
    task = sensor(TWILIO, transfer, poke_interval=30, timeout=0.8)
    started = time.monotonic()

    result = task.execute(CTX)

    assert result["status"] == "completed"
    assert time.monotonic() - started < 2  # the 30 s sleep was capped at the deadline


def test_poke_mode_timeout_raises_sensor_timeout_or_skips(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=30)
    with pytest.raises(AirflowSensorTimeout):
        sensor(TWILIO, transfer, poke_interval=30, timeout=0.3).execute(CTX)
    with pytest.raises(AirflowSkipException):
        sensor(TWILIO, transfer, poke_interval=30, timeout=0.3, soft_fail=True).execute(CTX)


# --------------------------------------------------------------------------------------------- deferrable


def test_deferrable_does_not_defer_when_already_done(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=0)
    assert sensor(TWILIO, transfer, deferrable=True).execute(CTX)["status"] == "completed"


def test_deferrable_defers_with_its_deadline_and_state(sandbox: Any) -> None:
    finished = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=0)
    active = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=30)
    task = sensor(TWILIO, [*finished, *active], deferrable=True, poke_interval=2.5, timeout=600)

    with pytest.raises(TaskDeferred) as caught:
        task.execute(CTX)

    deferred = caught.value
    assert deferred.method_name == "execute_complete" and deferred.timeout is None
    trigger = deferred.trigger
    assert isinstance(trigger, TransferStatusTrigger)
    _, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert abs(kwargs["deadline"] - (time.time() + 600)) < 5
    assert kwargs["poll_interval"] == 2.5 and kwargs["attempts"] == 1 and kwargs["single"] is False
    assert list(kwargs["finished"]) == [finished[0]["sid"]]


def test_deferrable_first_check_failure_skips_with_soft_fail(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="failed", delay_s=0)
    with pytest.raises(AirflowFailException):
        sensor(TWILIO, transfer, deferrable=True).execute(CTX)
    with pytest.raises(AirflowSkipException):
        sensor(TWILIO, transfer, deferrable=True, soft_fail=True).execute(CTX)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"status": "failure", "message": "UX1: failed"}, AirflowFailException),
        ({"status": "timeout", "message": "deadline"}, AirflowSensorTimeout),
        ({"status": "error", "message": "not found", "fatal": True}, AirflowFailException),
        ({"status": "error", "message": "5 consecutive 503", "fatal": False}, AirflowException),
        ({"status": "surprise"}, AirflowException),
    ],
)
def test_execute_complete_maps_events_to_exceptions(event: dict[str, Any], expected: type[Exception]) -> None:
    task = sensor(TWILIO, "{{ x }}")
    with pytest.raises(expected) as caught:
        task.execute_complete(CTX, event)
    assert type(caught.value) is expected
    assert event.get("message", "surprise") in str(caught.value)


def test_execute_complete_success_returns_one_check_or_the_list() -> None:
    check = {"transfer_id": "UX1", "status": "completed"}
    task = sensor(TWILIO, "{{ x }}")
    assert task.execute_complete(CTX, {"status": "success", "checks": [check], "single": True}) == check
    assert task.execute_complete(CTX, {"status": "success", "checks": [check], "single": False}) == [check]


def test_resume_with_soft_fail_skips_on_timeout() -> None:
    task = sensor(TWILIO, "{{ x }}", soft_fail=True)
    with pytest.raises(AirflowSkipException):
        task.resume_execution("execute_complete", {"event": {"status": "timeout", "message": "late"}}, CTX)


# --------------------------------------------------------------------------------------------- until answered


def test_until_answered_succeeds_while_the_agent_consults(sandbox: Any) -> None:
    """An attended transfer answered after 0.3 s whose agent never hangs up: active for good, yet answered."""
    [transfer] = sandbox.control.seed("voipbin", transfer_type="attended", outcome="completed", delay_s=0.3)
    result = sensor(VOIPBIN, transfer, until_answered=True).execute(CTX)
    assert result["status"] == "active" and result["evidence"]["answered"] is True
    with pytest.raises(AirflowSensorTimeout, match=r"to reach completed \("):
        sensor(VOIPBIN, transfer, timeout=1.0).execute(CTX)  # without it: waits for completion


async def test_until_answered_in_the_trigger_and_a_failure_still_fails(sandbox: Any) -> None:
    [answered] = sandbox.control.seed("voipbin", transfer_type="attended", outcome="completed", delay_s=0.3)
    [failed] = sandbox.control.seed("voipbin", transfer_type="attended", outcome="failed", delay_s=0.3)
    task = sensor(VOIPBIN, answered, until_answered=True, deferrable=True)
    with pytest.raises(TaskDeferred) as caught:
        task.execute(CTX)
    event = (await anext(caught.value.trigger.run())).payload
    assert event["status"] == "success" and "or an answer" in event["message"]
    assert task.execute_complete(CTX, event)["evidence"]["answered"] is True
    trigger = TransferStatusTrigger(conn_id=VOIPBIN, transfers=failed, until_answered=True, poll_interval=0.1)
    assert (await anext(trigger.run())).payload["status"] == "failure"


# --------------------------------------------------------------------------------------------- newcomer's errors


def test_a_statuses_typo_names_the_word() -> None:
    with pytest.raises(ValueError, match=r"success_statuses: expected statuses among .*'complete' is not one"):
        sensor(TWILIO, "{{ x }}", success_statuses=["complete"])
    with pytest.raises(ValueError, match=r"failure_statuses=\[\] waits for the success statuses alone"):
        sensor(TWILIO, "{{ x }}", success_statuses=["completed", "failed"])


def test_a_transfer_of_the_other_platform_is_named_as_such(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex")
    with pytest.raises(AirflowFailException, match="is a voipbin connection; this one is a twilio_flex transfer"):
        sensor(VOIPBIN, transfer).execute(CTX)
    assert sandbox.control.stats()["total"] == 0
