"""``TransferStatusTrigger.run()`` over real HTTP on loopback, against the transfer sandbox."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from airflow.sdk import BaseHook

from airflow_provider_transfers.hooks import base as registry
from airflow_provider_transfers.triggers.budget import PollBudget
from airflow_provider_transfers.triggers.transfer import HOOKS, TransferStatusTrigger

TWILIO = "twilio_flex_default"
VOIPBIN = "voipbin_default"
# Surface each HTTP failure to the trigger at once (the client's own retries are tested elsewhere).
NO_RETRY = {"max_attempts": 1, "backoff_initial": 0.0}


@pytest.fixture
def sandbox(transfer_sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The sandbox with its connections in the environment; the sync connection API is off limits."""

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a trigger must not call the synchronous get_connection")

    monkeypatch.setattr(BaseHook, "get_connection", forbidden)
    return transfer_sandbox_env


def trigger(conn_id: str, transfers: Any, **kwargs: Any) -> TransferStatusTrigger:
    kwargs.setdefault("poll_interval", 0.1)
    kwargs.setdefault("deadline", time.time() + 10)
    return TransferStatusTrigger(conn_id=conn_id, transfers=transfers, **kwargs)


async def first_event(trig: TransferStatusTrigger) -> dict[str, Any]:
    async with asyncio.timeout(10):
        event = await anext(trig.run())
    payload: dict[str, Any] = event.payload
    assert {"status", "message", "transfer_ids", "checks"} <= payload.keys()
    return payload


def requests(sandbox: Any, platform: str) -> int:
    entry = sandbox.control.stats()["platforms"].get(platform, {})
    return int(entry.get("total", 0))


def seed(sandbox: Any, platform: str, count: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
    return list(sandbox.control.seed(platform, count, **kwargs))


# --------------------------------------------------------------------------------------------- outcomes


@pytest.mark.parametrize(
    ("conn_id", "platform", "transfer_type", "requests_per_check"),
    [
        (TWILIO, "twilio_flex", "cold", 1),
        (VOIPBIN, "voipbin", "blind", 1),
        (VOIPBIN, "voipbin", "attended", 2),
    ],
)
async def test_active_then_completed_is_success(
    sandbox: Any, conn_id: str, platform: str, transfer_type: str, requests_per_check: int
) -> None:
    extra = {"auto_complete_after": 0.2} if transfer_type == "attended" else {}
    # Active for 1.5 s: the first check must find it active even on a loaded machine (0.4 s failed once there).
    [transfer] = seed(sandbox, platform, transfer_type=transfer_type, outcome="completed", delay_s=1.5, **extra)
    trig = trigger(conn_id, transfer)

    event = await first_event(trig)

    assert event["status"] == "success", event["message"]
    assert event["single"] is True
    [check] = event["checks"]
    assert check["status"] == "completed" and check["platform"] == platform
    assert event["transfer_ids"] == [check["transfer_id"]]
    assert trig.state.attempts >= 2  # it was active first
    # Never more than one check per poll (two requests for an attended transfer, plus the answering call
    # and the customer's call once its agent hung up: the check that finds it completed).
    extra_final = 2 if transfer_type == "attended" else 0
    assert requests(sandbox, platform) <= trig.state.attempts * requests_per_check + extra_final


@pytest.mark.parametrize(("conn_id", "platform"), [(TWILIO, "twilio_flex"), (VOIPBIN, "voipbin")])
async def test_active_then_failed_is_failure_naming_the_transfer(sandbox: Any, conn_id: str, platform: str) -> None:
    [transfer] = seed(sandbox, platform, outcome="failed", delay_s=0.3)
    event = await first_event(trigger(conn_id, transfer))

    tid = event["transfer_ids"][0]
    assert event["status"] == "failure"
    assert event["fatal"] is True
    assert tid in event["message"] and "failed" in event["message"]
    assert event["checks"][0]["detail"] in event["message"]


async def test_list_with_one_failure_fails_at_once_naming_only_it(sandbox: Any) -> None:
    good = seed(sandbox, "twilio_flex", 2, outcome="completed", delay_s=5)
    [bad] = seed(sandbox, "twilio_flex", outcome="failed", delay_s=0.2)
    started = time.monotonic()

    event = await first_event(trigger(TWILIO, [*good, bad]))

    assert event["status"] == "failure"
    assert time.monotonic() - started < 3  # did not wait for the others
    assert bad["sid"] in event["message"] and "1 of 3" in event["message"]
    assert all(t["sid"] not in event["message"] for t in good)
    assert event["single"] is False and len(event["checks"]) == 3


async def test_only_transfers_not_yet_terminal_are_polled_again(sandbox: Any) -> None:
    fast = seed(sandbox, "twilio_flex", 2, outcome="completed", delay_s=0)
    slow = seed(sandbox, "twilio_flex", 1, outcome="completed", delay_s=0.6)
    trig = trigger(TWILIO, [*fast, *slow])

    event = await first_event(trig)

    assert event["status"] == "success"
    # First poll: 3 checks; every later poll: the slow one only.
    assert requests(sandbox, "twilio_flex") == 3 + (trig.state.attempts - 1)


async def test_terminal_status_outside_both_sets_fails(sandbox: Any) -> None:
    [transfer] = seed(sandbox, "twilio_flex", outcome="failed", delay_s=0)
    event = await first_event(trigger(TWILIO, transfer, failure_statuses=[]))
    assert event["status"] == "failure"


# --------------------------------------------------------------------------------------------- errors


async def test_transient_errors_do_not_end_the_wait(sandbox: Any) -> None:
    [transfer] = seed(sandbox, "twilio_flex", outcome="completed", delay_s=0.3)
    sandbox.control.configure(faults={"503": 1.0})
    trig = trigger(TWILIO, transfer, policy=NO_RETRY, max_consecutive_errors=50)
    task = asyncio.create_task(first_event(trig))
    await asyncio.sleep(0.4)
    await asyncio.to_thread(sandbox.control.configure, faults={"reset": 1.0})  # then connection resets
    await asyncio.sleep(0.4)
    assert not task.done()
    assert trig.state.errors[transfer["sid"]] >= 4  # every poll so far failed, and was counted
    await asyncio.to_thread(sandbox.control.configure, faults={})

    event = await task

    assert event["status"] == "success"
    assert trig.state.errors == {}  # a good check ends the streak
    stats = sandbox.control.stats()
    assert stats["platforms"]["twilio_flex"]["by_status"].get("503", 0) >= 2
    assert stats["faults"].get("reset", 0) >= 2


async def test_consecutive_error_limit_ends_with_the_last_error(sandbox: Any) -> None:
    [transfer] = seed(sandbox, "twilio_flex", outcome="completed", delay_s=30)
    sandbox.control.configure(faults={"500": 1.0})
    trig = trigger(TWILIO, transfer, policy=NO_RETRY, max_consecutive_errors=3)

    event = await first_event(trig)

    assert event["status"] == "error" and event["fatal"] is False
    assert "3 consecutive" in event["message"] and "500" in event["message"]
    assert trig.state.attempts == 3 and requests(sandbox, "twilio_flex") == 3


async def test_not_found_fails_at_once(sandbox: Any) -> None:
    [transfer] = seed(sandbox, "twilio_flex")
    missing = {**transfer, "sid": "UX" + uuid.uuid4().hex}
    trig = trigger(TWILIO, missing)

    event = await first_event(trig)

    assert event["status"] == "error" and event["fatal"] is True
    assert "not found" in event["message"] and missing["sid"] in event["message"]
    assert requests(sandbox, "twilio_flex") == 1


async def test_invalid_transfer_json_fails_before_any_request(sandbox: Any) -> None:
    [transfer] = seed(sandbox, "voipbin")
    event = await first_event(trigger(VOIPBIN, {**transfer, "groupcall_id": "nope"}))
    assert event["status"] == "error" and event["fatal"] is True
    assert "groupcall_id" in event["message"]
    assert requests(sandbox, "voipbin") == 0


async def test_unknown_connection_and_connection_type_fail_clearly(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    [transfer] = seed(sandbox, "twilio_flex")
    event = await first_event(trigger("no_such_conn", transfer))
    assert event["status"] == "error" and event["fatal"] and "no_such_conn" in event["message"]

    monkeypatch.setenv("AIRFLOW_CONN_HTTP_ONE", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:1"}))
    event = await first_event(trigger("http_one", transfer))
    assert event["status"] == "error" and event["fatal"]
    assert "twilio_flex" in event["message"] and "voipbin" in event["message"]


# --------------------------------------------------------------------------------------------- deadline


async def test_transfer_completing_right_at_the_deadline_is_success(sandbox: Any) -> None:
    [transfer] = seed(sandbox, "twilio_flex", outcome="completed", delay_s=0.7)
    # A long poll interval: without a check at the deadline this would time out.
    trig = trigger(TWILIO, transfer, poll_interval=30, deadline=time.time() + 0.9)
    started = time.monotonic()

    event = await first_event(trig)

    assert event["status"] == "success", event["message"]
    assert trig.state.attempts == 2 and time.monotonic() - started < 2


async def test_timeout_after_one_last_check_at_the_deadline(sandbox: Any) -> None:
    [transfer] = seed(sandbox, "twilio_flex", outcome="completed", delay_s=30)
    trig = trigger(TWILIO, transfer, poll_interval=30, deadline=time.time() + 0.5)
    started = time.monotonic()

    event = await first_event(trig)

    assert event["status"] == "timeout"
    assert 0.45 < time.monotonic() - started < 2
    assert trig.state.attempts == 2  # the first poll and the one at the deadline
    assert transfer["sid"] in event["message"] and "active" in event["message"]
    assert event["checks"][0]["status"] == "active"


async def test_deadline_as_iso_text_and_already_past(sandbox: Any) -> None:
    [transfer] = seed(sandbox, "twilio_flex", outcome="completed", delay_s=30)
    trig = trigger(TWILIO, transfer, deadline="2001-01-01T00:00:00+00:00")
    event = await first_event(trig)
    assert event["status"] == "timeout" and trig.state.attempts == 1  # still checked once


# --------------------------------------------------------------------------------------------- state


async def test_serialize_and_recreate_mid_wait_carries_on(sandbox: Any) -> None:
    fast = seed(sandbox, "twilio_flex", outcome="completed", delay_s=0)
    slow = seed(sandbox, "twilio_flex", 2, outcome="completed", delay_s=1.0)
    deadline = time.time() + 10
    original = trigger(TWILIO, [*fast, *slow], deadline=deadline, poll_interval=0.1)
    task = asyncio.create_task(first_event(original))
    await asyncio.sleep(0.45)
    classpath, kwargs = original.serialize()
    task.cancel()  # a triggerer restart
    with pytest.raises(asyncio.CancelledError):
        await task

    kwargs = json.loads(json.dumps(kwargs))  # JSON-safe, as stored in the database
    assert classpath == "airflow_provider_transfers.triggers.transfer.TransferStatusTrigger"
    assert kwargs["deadline"] == deadline and kwargs["attempts"] >= 2
    assert list(kwargs["finished"]) == [fast[0]["sid"]]
    before = requests(sandbox, "twilio_flex")

    revived = TransferStatusTrigger(**kwargs)
    event = await first_event(revived)

    assert event["status"] == "success"
    assert revived.state.attempts > kwargs["attempts"]
    assert [c["status"] for c in event["checks"]] == ["completed"] * 3
    polls = revived.state.attempts - kwargs["attempts"]
    # The finished one is not polled again (that would make 3 per poll); of the two slow ones, one may end
    # a poll before the other.
    assert 2 * polls - 1 <= requests(sandbox, "twilio_flex") - before <= 2 * polls


def test_constructor_rejects_bad_arguments() -> None:
    transfer = {"sid": "UX" + "0" * 32}
    with pytest.raises(ValueError, match="disjoint"):
        TransferStatusTrigger(conn_id="c", transfers=transfer, success_statuses=["failed"])
    with pytest.raises(ValueError, match="poll_interval"):
        TransferStatusTrigger(conn_id="c", transfers=transfer, poll_interval=0)
    with pytest.raises(ValueError, match="at least one transfer"):
        TransferStatusTrigger(conn_id="c", transfers=[])


async def test_concurrent_triggers_share_one_hook_per_connection(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = registry.aget_transfer_hook

    async def counting(conn_id: str, **kwargs: Any) -> Any:
        calls.append(conn_id)
        return await original(conn_id, **kwargs)

    monkeypatch.setattr("airflow_provider_transfers.triggers.transfer.aget_transfer_hook", counting)
    transfers = seed(sandbox, "twilio_flex", 5, outcome="completed", delay_s=0.3)

    events = await asyncio.gather(*(first_event(trigger(TWILIO, t)) for t in transfers))

    assert [e["status"] for e in events] == ["success"] * 5
    assert calls == [TWILIO]  # one connection lookup, one client
    assert HOOKS.active() == 0  # closed when the last trigger finished


async def test_triggers_on_one_connection_share_its_budget_round_robin(
    sandbox: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 waits polling every 0.1 s on a connection limited to 10 req/s (the sandbox enforces 10/s too):
    every check takes its turn in the connection's PollBudget (round-robin, proven on a virtual clock in
    test_poll_budget.py), no wait is checked twice before another once, the sandbox answers no 429, and
    the log states the effective interval the budget sets."""
    turns: list[float] = []
    real_turn = PollBudget.turn

    async def counted(self: PollBudget, last_checked: float, cost: float = 1.0) -> None:
        await real_turn(self, last_checked, cost)
        turns.append(last_checked)

    monkeypatch.setattr(PollBudget, "turn", counted)
    await asyncio.to_thread(sandbox.control.configure, rate_limit="twilio=10,voipbin=16.7")
    transfers = seed(sandbox, "twilio_flex", 30, outcome="completed", delay_s=4)
    policy = {"rate_limit": 10, "rate_burst": 1}
    triggers = [trigger(TWILIO, t, poll_interval=0.1, policy=policy) for t in transfers]
    async with asyncio.timeout(30):
        events = await asyncio.gather(*(anext(t.run()) for t in triggers))
    assert {e.payload["status"] for e in events} == {"success"}
    attempts = [t.state.attempts for t in triggers]
    assert max(attempts) - min(attempts) <= 1, attempts
    assert len(turns) == sum(attempts)
    stats = await asyncio.to_thread(sandbox.control.stats)
    assert stats["platforms"]["twilio_flex"]["rate_limited"] == 0, stats
    logged = "".join(capfd.readouterr())
    assert "Connection 'twilio_flex_default': 30 request(s) per round" in logged
    assert "checked about every 3.0 s (poll_interval 0.1 s)" in logged
