"""429s that slowing down cannot cure (noise) against those that follow our pace, on a fake clock, and
through ``VoipbinHook`` against the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_transfers.hooks.voipbin import BUCKET, VoipbinHook
from airflow_provider_transfers.http import ratelimit
from airflow_provider_transfers.http.ratelimit import TokenBucket
from tests.unit.platform_sim import Client, FakeClock, Platform, run
from tests.unit.test_voipbin_loopback import hook_for

VOIPBIN_RATE, VOIPBIN_BURST = 16.7, 33


def voipbin_bucket(clock: FakeClock) -> TokenBucket:
    return TokenBucket(VOIPBIN_RATE, VOIPBIN_BURST, clock=clock, adaptive=True)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.mark.parametrize("seed", range(5))
def test_random_429s_at_30_percent_do_not_collapse_the_rate(seed: int) -> None:
    clock = FakeClock()
    client = Client(voipbin_bucket(clock), remaining=500)
    run(clock, Platform(clock, noise=0.3, seed=seed), [client])
    later = client.rates[len(client.rates) // 2 :]
    # Every 429 cutting the rate and pausing the bucket kept it near 1.3 requests/s (the floor is 0.33).
    assert mean(later) > VOIPBIN_RATE / 2
    assert client.bucket.decreases <= 5
    assert 0.2 < client.bucket.noise < 0.4  # measured on hundreds of answers


def test_once_noise_is_known_a_429_neither_cuts_the_rate_nor_pauses_the_bucket() -> None:
    clock = FakeClock()
    client = Client(voipbin_bucket(clock), remaining=500)
    run(clock, Platform(clock, noise=0.3, seed=1), [client])
    bucket = client.bucket
    assert bucket.noise > 0
    rate, decreases = bucket.current_rate, bucket.decreases
    clock.now += 10  # a full bucket
    bucket.feedback(throttled=True, retry_after=5.0)
    assert (bucket.current_rate, bucket.decreases) == (rate, decreases)
    assert bucket.reserve() == 0.0  # the refused request waits out its Retry-After alone


def test_a_genuine_limit_still_makes_the_rate_converge() -> None:
    clock = FakeClock()
    client = Client(voipbin_bucket(clock), remaining=1200)
    platform = Platform(clock, limit=8)  # refuses what exceeds 8 requests/s
    run(clock, platform, [client])
    assert client.most_noise == 0  # its 429s stop when we slow down: never taken for noise
    later = client.rates[600:]
    assert 6 < mean(later) < 10 and max(later) < 12
    assert platform.refused_by_limit < 0.05 * platform.requests


def test_four_processes_sharing_a_limit_converge_without_taking_it_for_noise() -> None:
    clock = FakeClock()
    clients = [Client(TokenBucket(20, 20, clock=clock, adaptive=True), remaining=300) for _ in range(4)]
    platform = Platform(clock, limit=20)
    run(clock, platform, clients)
    assert [c.most_noise for c in clients] == [0, 0, 0, 0]
    assert platform.refused_by_limit < 0.1 * platform.requests


def test_noise_that_goes_away_lets_429s_count_again() -> None:
    clock = FakeClock()
    bucket = voipbin_bucket(clock)
    run(clock, Platform(clock, noise=0.3, seed=3), [Client(bucket, remaining=500)])
    assert bucket.noise > 0
    run(clock, Platform(clock), [Client(bucket, remaining=2 * ratelimit.MEASURE)])
    assert bucket.noise == 0  # a measurement far below it ended it
    decreases = bucket.decreases
    limited = Client(bucket, remaining=400)
    run(clock, Platform(clock, limit=5), [limited])  # now a genuine limit: the 429s count again
    assert bucket.decreases > decreases and limited.most_noise == 0
    assert 4 < mean(limited.rates[200:]) < 6.5


def test_a_share_out_of_line_with_the_noise_is_our_pace_again() -> None:
    clock = FakeClock()
    bucket = voipbin_bucket(clock)
    run(clock, Platform(clock, noise=0.3, seed=4), [Client(bucket, remaining=500)])
    assert bucket.noise > 0
    decreases = bucket.decreases
    for _ in range(2 * ratelimit.MEASURE):  # all refused: a full measurement far above the noise
        clock.now += 0.1
        bucket.feedback(throttled=True, retry_after=1.0)
    assert bucket.noise == 0 and bucket.decreases > decreases


def test_a_429_among_a_few_successes_waits_for_a_measurement() -> None:
    clock = FakeClock()
    bucket = voipbin_bucket(clock)
    bucket.feedback(throttled=True)  # the first 429 in a long while: the usual decrease
    first = bucket.current_rate
    clock.now += 1.0
    for throttled in (False, False, True, False, False, True):  # 2 of 6: no share measured yet
        bucket.feedback(throttled=throttled, retry_after=1.0 if throttled else None)
    assert bucket.decreases == 1 and bucket.current_rate >= first
    assert bucket.reserve() == 0.0  # nor owed its Retry-After
    for n in range(ratelimit.MEASURE - 6):  # a full measurement at 30 % refused: a decrease
        bucket.feedback(throttled=n % 10 < 3, retry_after=1.0)
    assert bucket.decreases == 2


async def test_injected_429s_leave_the_rate_up_over_real_http(transfer_sandbox: Any) -> None:
    transfer_sandbox.control.configure(rate_limit=False, faults={"429": 0.3}, retry_after=True)
    call = transfer_sandbox.control.create_voipbin_call()
    # Retry-After: 1 per refused request; 10 attempts keep a request from failing 5 times in a row (0.24 %).
    hook: VoipbinHook = hook_for(transfer_sandbox, policy={"rate_limit": 100, "rate_burst": 100, "max_attempts": 10})
    slots = asyncio.Semaphore(64)  # enough that the bucket, not the Retry-After waits, sets the pace

    async def check() -> str:
        async with slots:
            return (await hook.aget_call(call["id"])).id

    ids = await asyncio.gather(*(check() for _ in range(150)))
    assert set(ids) == {call["id"]}
    limiter = (await hook.aget_conn()).limiter
    bucket = limiter.bucket(BUCKET) if limiter else None
    assert isinstance(bucket, TokenBucket)
    assert 0.15 < bucket.noise < 0.45
    assert bucket.current_rate > 30  # every injected 429 cutting the rate and pausing the bucket: a few per second
    assert transfer_sandbox.control.stats()["faults"]["429"] > 30
    await hook.aclose()
