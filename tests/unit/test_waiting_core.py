"""The waiting core (``waiting/``): argument checks, the typed event, the state machine and the final
check's grace at the deadline (a completed transfer is never reported as timed out because of a 429/5xx)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.triggers.base import TriggerEvent

from airflow_provider_transfers import waiting as wait_state
from airflow_provider_transfers.exceptions import (
    TransferNotFoundError,
    TransferRateLimitError,
    TransferServerError,
    TransferValidationError,
)
from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
from airflow_provider_transfers.models import TransferCheck, TransferStatus
from airflow_provider_transfers.sensors.transfer import TransferStatusSensor
from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger
from airflow_provider_transfers.waiting import TransferWait, WaitArgs, WaitEvent

CTX = cast(Context, {})
TWILIO = "twilio_flex_default"
NO_RETRY = {"max_attempts": 1, "backoff_initial": 0.0}
TRANSFER = {"sid": "UX" + "a" * 32, "interaction_sid": "KD" + "b" * 32, "channel_sid": "UO" + "c" * 32}


# --------------------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("poll_interval", math.nan),
        ("poll_interval", math.inf),
        ("poll_interval", True),
        ("poll_interval", 0),
        ("poll_interval", "soon"),
        ("timeout", -1),
        ("max_consecutive_errors", 0),
        ("max_consecutive_errors", 2.5),
        ("max_consecutive_errors", True),
        ("deadline", True),
        ("deadline", math.nan),
        ("deadline", "next tuesday-ish"),
        ("success_statuses", ["done"]),
    ],
)
def test_wait_arguments_refuse_what_is_not_a_finite_positive_number(field: str, value: Any) -> None:
    with pytest.raises(TransferValidationError) as caught:
        WaitArgs.build(**{field: value})
    assert caught.value.field == field and isinstance(caught.value, ValueError)


def test_wait_arguments_accept_numeric_text_timedelta_and_iso_deadlines() -> None:
    from datetime import timedelta

    args = WaitArgs.build(poll_interval="10", timeout=timedelta(minutes=2), max_consecutive_errors="3")
    assert (args.poll_interval, args.timeout, args.max_consecutive_errors) == (10.0, 120.0, 3)
    assert WaitArgs.build(deadline="2026-01-01T00:00:00Z").deadline == 1767225600.0
    assert WaitArgs.build(deadline="1767225600").deadline == 1767225600.0
    started = args.started(now=1000.0)
    assert started.deadline == 1120.0 and args.deadline is None


def test_sensor_and_trigger_check_their_numbers() -> None:
    with pytest.raises(TransferValidationError, match="Invalid poke_interval"):  # the sensor's own argument name
        TransferStatusSensor(task_id="s", conn_id="c", transfer=TRANSFER, poke_interval=math.nan)
    with pytest.raises(TransferValidationError, match="max_consecutive_errors"):
        TransferStatusSensor(task_id="s", conn_id="c", transfer=TRANSFER, max_consecutive_errors=True)
    assert TransferStatusSensor(task_id="s", conn_id="c", transfer=TRANSFER, poke_interval="7").poke_interval == 7
    with pytest.raises(TransferValidationError, match="deadline"):
        TransferStatusTrigger(conn_id="c", transfers=TRANSFER, deadline=True)
    with pytest.raises(TransferValidationError, match="deadline"):
        TransferStatusTrigger(conn_id="c", transfers=TRANSFER, deadline=math.nan)


# --------------------------------------------------------------------------------------------- event


def test_the_event_round_trips_through_a_trigger_event_and_back() -> None:
    check = TransferCheck(platform="twilio_flex", transfer_id=TRANSFER["sid"], status=TransferStatus.COMPLETED)
    event = WaitEvent(status="success", message="ok", transfer_ids=[check.transfer_id], checks=[check.to_xcom()])
    payload = TriggerEvent(event.model_dump(mode="json")).payload
    assert WaitEvent.model_validate(payload) == event
    task = TransferStatusSensor(task_id="s", conn_id="c", transfer="{{ x }}")
    assert task.execute_complete(CTX, payload) == [check.to_xcom()]
    with pytest.raises(AirflowException, match="Unexpected trigger event") as caught:
        task.execute_complete(CTX, {"status": "done"})
    assert not isinstance(caught.value, AirflowFailException)  # not a wait event: an error a retry may fix


# --------------------------------------------------------------------------------------------- state machine


class ScriptedHook:
    """``check_ref`` answers from a script: a status or an exception per call."""

    transfer_ref = TwilioFlexHook.transfer_ref

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def check_ref(self, ref: Any) -> TransferCheck:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return TransferCheck(platform="twilio_flex", transfer_id=ref.sid, status=TransferStatus(answer))


def run_wait(hook: ScriptedHook, clock: Callable[[], float], **args: Any) -> tuple[WaitEvent, TransferWait]:
    wait = TransferWait([TwilioFlexHook.transfer_ref(TRANSFER)], WaitArgs.build(**args), single=True)
    wait.clock = clock
    return wait.run(hook, sleep=lambda s: None), wait  # type: ignore[arg-type]


def server_error() -> TransferServerError:
    return TransferServerError(platform="twilio_flex", status_code=503, message="unavailable")


def test_transient_errors_are_counted_and_a_good_check_resets_them() -> None:
    hook = ScriptedHook(server_error(), server_error(), "active", server_error(), "completed")
    event, wait = run_wait(hook, time.time, poll_interval=1, max_consecutive_errors=3)
    assert event.status == "success" and hook.calls == 5 and wait.state.errors == {}


def test_not_found_ends_the_wait_at_once_as_fatal() -> None:
    missing = TransferNotFoundError(platform="twilio_flex", status_code=404, message="gone")
    event, _ = run_wait(ScriptedHook(missing), time.time, poll_interval=1)
    assert event.status == "error" and event.fatal and "not found" in event.message


def test_the_pause_is_capped_so_the_last_check_lands_at_the_deadline() -> None:
    wait = TransferWait([], WaitArgs.build(poll_interval=30, deadline=1000.0))
    assert wait.delay(now=990.0) == pytest.approx(10.0 + wait_state.DEADLINE_SLACK)
    assert wait.delay(now=1000.5) == wait_state.GRACE_STEP  # past the deadline: the grace's short pause
    assert wait.delay(now=1000.0 + wait_state.FINAL_CHECK_GRACE) == 0.0


def test_a_rate_limited_final_check_is_retried_within_the_grace() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 0.6  # every decision is 0.6 s later
        return now[0]

    limited = TransferRateLimitError(platform="twilio_flex", status_code=429, message="slow down")
    hook = ScriptedHook("active", limited, limited, "completed")
    event, _ = run_wait(hook, clock, poll_interval=30, deadline=1.0)
    assert event.status == "success" and hook.calls == 4


def test_the_grace_is_bounded_then_the_wait_times_out_naming_the_error() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    hook = ScriptedHook("active", *[server_error() for _ in range(20)])
    event, _ = run_wait(hook, clock, poll_interval=30, deadline=1.5, max_consecutive_errors=50)
    assert event.status == "timeout" and "last check failed" in event.message and "503" in event.message
    assert 2 <= hook.calls <= 2 + wait_state.FINAL_CHECK_GRACE  # one per second of grace at most


# --------------------------------------------------------------------------------------------- grace, end to end


@pytest.fixture
def sandbox(transfer_sandbox_env: Any) -> Any:
    return transfer_sandbox_env


def faults_between(sandbox: Any, kind: str, start: float, stop: float) -> threading.Thread:
    """Turn ``kind`` faults on for every request from ``start`` to ``stop`` seconds from now."""

    def flip() -> None:
        time.sleep(start)
        sandbox.control.configure(faults={kind: 1.0})
        time.sleep(stop - start)
        sandbox.control.configure(faults={})

    thread = threading.Thread(target=flip, daemon=True)
    thread.start()
    return thread


async def test_trigger_final_check_hit_by_a_429_retries_and_reports_the_completion(sandbox: Any) -> None:
    # Active until 1.0 s; the deadline at 1.3 s falls inside a spell of 429s (1.1 s to 2.0 s).
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=1.0)
    trigger = TransferStatusTrigger(
        conn_id=TWILIO, transfers=transfer, poll_interval=30, deadline=time.time() + 1.3, policy=NO_RETRY
    )
    flipper = faults_between(sandbox, "429", 1.1, 2.0)

    async with asyncio.timeout(10):
        event = (await anext(trigger.run())).payload
    await asyncio.to_thread(flipper.join)

    assert event["status"] == "success", event["message"]
    assert trigger.state.attempts == 3  # first poll, the 429 at the deadline, the retry within the grace
    assert sandbox.control.stats()["platforms"]["twilio_flex"]["by_status"].get("429", 0) >= 1


def test_poke_mode_final_check_hit_by_a_503_retries_and_reports_the_completion(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=1.0)
    flipper = faults_between(sandbox, "503", 1.1, 2.0)
    task = TransferStatusSensor(
        task_id="wait", conn_id=TWILIO, transfer=transfer, poke_interval=30, timeout=1.3, policy=NO_RETRY
    )

    result = task.execute(CTX)
    flipper.join()

    assert result["status"] == "completed"
    assert task._wait is not None and task._wait.state.attempts >= 3  # active, 503 at the deadline, retry
    assert sandbox.control.stats()["platforms"]["twilio_flex"]["by_status"].get("503", 0) >= 1


def test_poke_mode_exponential_backoff_grows_the_pause_within_the_deadline(sandbox: Any) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=30)
    slow = TransferStatusSensor(
        task_id="wait", conn_id=TWILIO, transfer=transfer, poke_interval=1, timeout=600, exponential_backoff=True
    )
    interval = slow._backoff()
    assert interval is not None
    assert interval(1) < interval(6)  # Airflow's backoff grows with the polls
    task = TransferStatusSensor(
        task_id="wait", conn_id=TWILIO, transfer=transfer, poke_interval=0.2, timeout=1.0, exponential_backoff=True
    )
    started = time.monotonic()
    with pytest.raises(Exception, match="Timed out"):
        task.execute(CTX)
    assert time.monotonic() - started < 3
