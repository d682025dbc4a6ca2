"""The final check starts at or after the deadline: a read that left before it and came back after it (the
transfer completed in between) never ends the wait as ``timeout``, in the trigger, in poke mode and in
reschedule mode alike.

Deterministic: the first status read is answered by the sandbox at once (the transfer still active), the
transport holds that answer until after the deadline, and the transfer is completed while it is held.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from airflow.sdk import Context

from airflow_provider_transfers.sensors.transfer import TransferStatusSensor
from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

TWILIO = "twilio_flex_default"
TIMEOUT = 5.0
"""Seconds from the wait's start to its deadline: the first read surely starts before it, however busy the
machine (the test asserts that it did)."""
HELD_PAST = 0.5
"""The first read's answer is delivered this long after the deadline."""


class Straddle:
    """Holds back the answer to the first status read until after the deadline; completes the transfer meanwhile."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.deadline = 0.0
        self.reads: list[float] = []
        self.delivered = 0.0

    def hold(self, request: httpx.Request) -> float:
        """Seconds to hold this answer (after completing the transfer), or 0 for every later read."""
        if "/Transfers/" not in request.url.path:
            return 0.0
        self.reads.append(time.time())
        if len(self.reads) > 1:
            return 0.0
        self.sandbox.control.set_outcome(request.url.path.rsplit("/", 1)[1], "completed")
        self.delivered = self.deadline + HELD_PAST
        return max(0.0, self.delivered - time.time())


@pytest.fixture
def straddle(transfer_sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Straddle]:
    holder = Straddle(transfer_sandbox_env)
    real_async = httpx.AsyncHTTPTransport.handle_async_request
    real_sync = httpx.HTTPTransport.handle_request

    async def handle_async(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        response = await real_async(self, request)
        await response.aread()  # the platform's answer, as it was at the read
        await asyncio.sleep(await asyncio.to_thread(holder.hold, request))
        return response

    def handle_sync(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        response = real_sync(self, request)
        response.read()
        time.sleep(holder.hold(request))
        return response

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async)
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_sync)
    yield holder


def seed(straddle: Straddle) -> dict[str, Any]:
    """An active transfer; the wait on it starts now, so its deadline is ``TIMEOUT`` from now."""
    [transfer] = straddle.sandbox.control.seed("twilio_flex", outcome="completed", delay_s=3600)
    straddle.deadline = time.time() + TIMEOUT
    return dict(transfer)


def assert_straddled(straddle: Straddle) -> None:
    first, *later = straddle.reads
    assert first < straddle.deadline < straddle.delivered  # read (active) before it, answered after it
    assert len(later) == 1 and later[0] >= straddle.deadline  # then exactly one final check, after it


async def test_trigger_does_not_end_on_a_read_that_began_before_the_deadline(straddle: Straddle) -> None:
    transfer = seed(straddle)
    trigger = TransferStatusTrigger(conn_id=TWILIO, transfers=transfer, poll_interval=60, deadline=straddle.deadline)
    async with asyncio.timeout(30):
        event = (await anext(trigger.run())).payload
    assert event["status"] == "success", event["message"]
    assert_straddled(straddle)


def test_poke_mode_does_not_end_on_a_read_that_began_before_the_deadline(straddle: Straddle) -> None:
    transfer = seed(straddle)
    sensor = TransferStatusSensor(task_id="wait", conn_id=TWILIO, transfer=transfer, poke_interval=60, timeout=TIMEOUT)
    assert sensor.execute(cast(Context, {}))["status"] == "completed"
    assert_straddled(straddle)


class FirstTry:
    """The task instance's answer to ``get_first_reschedule_date``: when the sensor's first try began."""

    def __init__(self, at: float) -> None:
        self.at = at

    def get_first_reschedule_date(self, context: Any) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)


def test_reschedule_mode_does_not_end_on_a_read_that_began_before_the_deadline(straddle: Straddle) -> None:
    transfer = seed(straddle)
    sensor = TransferStatusSensor(
        task_id="wait", conn_id=TWILIO, transfer=transfer, poke_interval=60, timeout=TIMEOUT, mode="reschedule"
    )
    done = sensor.poke(cast(Context, {"ti": FirstTry(straddle.deadline - TIMEOUT)}))
    assert done.is_done is True and done.xcom_value["status"] == "completed"  # within this one try
    assert_straddled(straddle)
