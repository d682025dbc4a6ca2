"""A Redis that hangs (its port open, no answer: ``redis-server`` stopped with SIGSTOP) is detected within
``REDIS_TIMEOUT_S``; the process falls back to its own rate limit with one warning, no wait or request stalls
longer than that bound plus the normal pace, and sharing resumes once Redis answers again (SIGCONT)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_transfers.http import ratelimit
from airflow_provider_transfers.http.ratelimit import REDIS_TIMEOUT_S, SharedRateLimiter
from airflow_provider_transfers.sandbox.credentials import twilio_connection
from tests.redis_server import MISSING, RedisServer, redis_server_path

pytestmark = pytest.mark.processes

HANG_S = 6.0
WINDOW_S = 1.0
"""Twilio's window (20 grants per second). A bounded wait may hold two: one full before the hang, and one
filled, once Redis resumes, by the grants it still executes for requests that had timed out."""
SLACK_S = 1.0
"""Scheduling on a busy 2-core machine. Unbounded, these stalls lasted 90 s and more."""
RETRY_S = 2.0
"""How soon Redis is tried again after a failure (30 s in production; shortened so the test sees it return)."""


@pytest.fixture
def redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    if redis_server_path() is None:
        pytest.skip(MISSING)
    monkeypatch.setattr(ratelimit, "RETRY_REDIS_S", RETRY_S)
    with RedisServer() as server:
        yield server


def hang(server: RedisServer, after: float, seconds: float) -> threading.Thread:
    """SIGSTOP the server ``after`` seconds from now, SIGCONT it ``seconds`` later."""
    assert server.proc is not None
    pid = server.proc.pid

    def run() -> None:
        time.sleep(after)
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def test_requests_through_a_hung_redis_never_wait_longer_than_the_bound(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """16 callers taking grants at 20/s (a reconciliation's rows) through a Redis that hangs for 6 s."""
    bucket = SharedRateLimiter(20, 20, url=redis.url, scope="twilio|acct").bucket("fetch")
    stopper = hang(redis, after=1.0, seconds=HANG_S)
    waits: list[float] = []
    end = time.monotonic() + 1.0 + HANG_S + 2 * RETRY_S + 2.0

    async def caller() -> None:
        while time.monotonic() < end:
            asked = time.monotonic()
            await bucket.aacquire()
            waits.append(time.monotonic() - asked)

    with caplog.at_level(logging.WARNING):
        await asyncio.gather(*(caller() for _ in range(16)))
    await asyncio.to_thread(stopper.join)

    pace = 16 / 20  # every caller waits for its turn among 16 at 20/s
    assert max(waits) <= REDIS_TIMEOUT_S + 2 * WINDOW_S + pace + SLACK_S, max(waits)
    assert len(warnings(caplog, "unreachable")) == 1  # one warning for the outage
    assert warnings(caplog, "answers again")  # and sharing resumed
    assert bucket.fallbacks > 0 and bucket.grants > 0
    grants_before = bucket.grants
    await bucket.aacquire()
    assert bucket.grants == grants_before + 1  # through Redis again


def test_a_blocking_caller_is_bounded_too(redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """The synchronous path (poke mode, operators) through the same hang."""
    bucket = SharedRateLimiter(20, 20, url=redis.url, scope="twilio|acct").bucket("fetch")
    bucket.acquire()
    stopper = hang(redis, after=0.2, seconds=HANG_S)
    waits = []
    end = time.monotonic() + 0.2 + HANG_S + 2 * RETRY_S + 1.0
    with caplog.at_level(logging.WARNING):
        while time.monotonic() < end:
            asked = time.monotonic()
            bucket.acquire()
            waits.append(time.monotonic() - asked)
    stopper.join()
    assert max(waits) <= REDIS_TIMEOUT_S + 2 * WINDOW_S + SLACK_S, max(waits)
    assert len(warnings(caplog, "unreachable")) == 1 and warnings(caplog, "answers again")


async def test_waiting_triggers_keep_their_pace_through_a_hung_redis(
    redis: RedisServer, transfer_sandbox_env: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """20 deferred waits sharing the account through Redis; Redis hangs for 6 s mid-wait. Every wait keeps being
    checked: no gap between two checks of one transfer exceeds the bound plus the normal pace."""
    from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
    from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

    sandbox = transfer_sandbox_env
    fields = twilio_connection(sandbox.url, sandbox.credentials)
    fields["extra"] = {**fields["extra"], "rate_limit": 20, "rate_burst": 20, "rate_limit_backend": redis.url}
    monkeypatch.setenv("AIRFLOW_CONN_TWILIO_FLEX_DEFAULT", json.dumps(fields))
    checks: dict[str, list[float]] = {}
    original = TwilioFlexHook.acheck_ref

    async def acheck_ref(self: TwilioFlexHook, ref: Any) -> Any:
        checks.setdefault(ref.transfer_id, []).append(time.monotonic())
        return await original(self, ref)

    monkeypatch.setattr(TwilioFlexHook, "acheck_ref", acheck_ref)
    transfers = sandbox.control.seed("twilio_flex", 20, outcome="completed", delay_s=3600)
    deadline = time.time() + 1.0 + HANG_S + 2 * RETRY_S + 2.0
    triggers = [
        TransferStatusTrigger(conn_id="twilio_flex_default", transfers=t, poll_interval=0.5, deadline=deadline)
        for t in transfers
    ]
    stopper = hang(redis, after=1.0, seconds=HANG_S)
    with caplog.at_level(logging.WARNING):
        async with asyncio.timeout(60):
            events = await asyncio.gather(*(anext(t.run()) for t in triggers))
    await asyncio.to_thread(stopper.join)

    assert {e.payload["status"] for e in events} == {"timeout"}  # active throughout; each ended at its deadline
    gaps = [b - a for times in checks.values() for a, b in itertools.pairwise(times)]
    pace = max(0.5, 20 / 20)  # poll_interval, or the account's round of 20 checks at 20/s
    assert max(gaps) <= REDIS_TIMEOUT_S + 2 * WINDOW_S + pace + SLACK_S, max(gaps)
    assert len(warnings(caplog, "unreachable")) == 1 and warnings(caplog, "answers again")


def test_two_triggerers_both_keep_going_through_a_hung_redis(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's scenario: two triggerer processes on one account share it through Redis, which hangs for 20 s.
    Every wait in both keeps being checked, and the account is not flooded meanwhile."""
    from airflow_provider_transfers.sandbox import SandboxConfig, SandboxProcess
    from tests.unit.test_trigger_shared_budget import RATE, WAITS, run_triggerers

    if redis_server_path() is None:
        pytest.skip(MISSING)
    run_s, stop_at, stop_for = 40.0, 8.0, 20.0
    with RedisServer() as redis, SandboxProcess(SandboxConfig(seed=5, twilio_rate=RATE, twilio_burst=RATE)) as sandbox:
        fields = twilio_connection(sandbox.url, sandbox.credentials)
        fields["extra"] = {**fields["extra"], "rate_limit": RATE, "rate_burst": RATE, "rate_limit_backend": redis.url}
        env = {**sandbox.environ(), "AIRFLOW_CONN_TWILIO_FLEX_DEFAULT": json.dumps(fields)}
        seeded = sandbox.control.seed("twilio_flex", sum(WAITS.values()), transfer_type="cold", delay_s=3600)
        shares = {"many": seeded[: WAITS["many"]], "few": seeded[WAITS["many"] :]}
        results = run_triggerers(
            env,
            shares,
            tmp_path,
            run_s,
            at_start=lambda at: hang(redis, after=at + stop_at - time.time(), seconds=stop_for),
        )
        stats = sandbox.control.stats()["platforms"]["twilio_flex"]
    pace = sum(WAITS.values()) / RATE  # 2 s: the account's round
    worst = {
        name: max(b - a for times in r["checks"].values() for a, b in itertools.pairwise(times))
        for name, r in results.items()
    }
    print(f"\nworst gap per process through a 20 s Redis hang: {worst}; 429 share {stats.get('rate_limited', 0)}"
          f"/{stats.get('total', 0)}")  # fmt: skip
    assert all(gap <= REDIS_TIMEOUT_S + 2 * WINDOW_S + pace + SLACK_S for gap in worst.values()), worst
    # Each process kept to its last share of the account through the outage: no storm of 429s (which would
    # collapse the adaptive rates; the old fallback went back to the full rate in every process).
    assert stats.get("rate_limited", 0) <= 0.005 * stats["total"], stats
    for name in shares:
        logged = (tmp_path / name).read_text()
        assert logged.count("unreachable") == 1 and "answers again" in logged, name
