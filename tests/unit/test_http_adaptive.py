"""The adaptive layer of the rate budget (AIMD on 429s), with a fake clock, and through ``ApiClient``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from airflow_provider_transfers.http import ratelimit
from airflow_provider_transfers.http.ratelimit import RateLimiter, TokenBucket
from tests.factories import KD, UO, UX, twilio_transfer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_429_lowers_the_rate_once_per_cooldown_and_owes_the_retry_after() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=20, burst=20, clock=clock, adaptive=True)
    bucket.feedback(throttled=True, retry_after=2.0)
    assert bucket.current_rate == pytest.approx(20 * ratelimit.DECREASE)
    # the next token is free only once Retry-After has passed
    assert bucket.reserve() == pytest.approx(2.0 + 1 / bucket.current_rate)
    bucket.feedback(throttled=True)  # same burst of 429s: no second decrease
    assert bucket.current_rate == pytest.approx(20 * ratelimit.DECREASE)
    clock.now += ratelimit.COOLDOWN_S
    bucket.feedback(throttled=True)
    assert bucket.current_rate == pytest.approx(20 * ratelimit.DECREASE**2)
    assert bucket.current_burst == pytest.approx(20 * ratelimit.DECREASE**2)  # the burst shrinks with the rate


def test_successes_raise_the_rate_additively_up_to_the_limit_never_above() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=10, clock=clock, adaptive=True)
    bucket.feedback(throttled=True)
    clock.now += ratelimit.COOLDOWN_S
    bucket.feedback(throttled=True)  # a second 429 soon after the first: sharing, additive increase
    low = bucket.current_rate
    for _ in range(int(low)):  # one second of successes at the current rate
        bucket.feedback(throttled=False)
    assert bucket.current_rate == pytest.approx(low + ratelimit.INCREASE_PER_S * 10, rel=0.05)
    for _ in range(10_000):
        bucket.feedback(throttled=False)
    assert bucket.current_rate == 10


def test_the_rate_never_drops_below_its_floor() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=20, burst=20, clock=clock, adaptive=True)
    for _ in range(100):
        clock.now += 1
        bucket.feedback(throttled=True)
    assert bucket.current_rate == pytest.approx(bucket.min_rate) and bucket.min_rate >= 0.1


def test_twilio_concurrent_requests_header_goes_straight_to_our_share() -> None:
    bucket = TokenBucket(rate=20, burst=20, clock=FakeClock(), adaptive=True)
    bucket.in_flight = 2
    bucket.feedback(throttled=True, concurrent=8)  # the account has 8 in flight, 2 of them ours
    assert bucket.current_rate == pytest.approx(5.0)


def test_a_static_bucket_ignores_feedback() -> None:
    bucket = TokenBucket(rate=20, burst=20, clock=FakeClock())
    bucket.feedback(throttled=True, retry_after=5)
    assert bucket.current_rate == 20 and bucket.reserve() == 0.0


def _throttled_then_ok() -> list[httpx.Response]:
    body = {"code": 20429, "message": "Too many requests", "status": 429}
    return [
        httpx.Response(429, json=body, headers={"Retry-After": "0"}),
        httpx.Response(200, json=twilio_transfer()),
    ]


@pytest.mark.parametrize("adaptive", [True, False])
def test_the_client_reports_429s_to_its_bucket(make_twilio_hook: Any, adaptive: bool) -> None:
    hook = make_twilio_hook(rate_limit=20, rate_burst=20, adaptive_rate=adaptive)
    with respx.mock() as router:
        router.get(host="flex-api.twilio.com").mock(side_effect=_throttled_then_ok())
        hook.get_transfer(KD, UO, UX)
    assert isinstance(hook.api.limiter, RateLimiter)
    bucket = hook.api.limiter.bucket("fetch")
    low = 20 * ratelimit.DECREASE  # an isolated 429: the first success closes part of the gap at once
    expected = low + max(ratelimit.INCREASE_PER_S * 20, (20 - low) * ratelimit.RECOVER_PER_S) / low
    assert bucket.current_rate == (pytest.approx(expected) if adaptive else 20)
    assert bucket.in_flight == 0


async def test_the_async_path_shares_the_same_adaptive_bucket(make_twilio_hook: Any) -> None:
    hook = make_twilio_hook(rate_limit=20, rate_burst=20)
    with respx.mock() as router:
        router.get(host="flex-api.twilio.com").mock(side_effect=_throttled_then_ok())
        await hook.aget_transfer(KD, UO, UX)
    api = await hook.aget_conn()
    assert api.limiter is not None and api.limiter.bucket("fetch").decreases == 1
    assert api.policy.adaptive_rate is True  # on by default
    await hook.aclose()


def test_a_mostly_refused_rate_drops_to_the_admitted_share_at_once() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=20, burst=20, clock=clock, adaptive=True)
    bucket.feedback(throttled=True)  # the first 429: too little evidence, the usual decrease
    assert bucket.current_rate == pytest.approx(14.0)
    for _ in range(3):
        bucket.feedback(throttled=False)
    low = bucket.current_rate
    for _ in range(9):  # during the cooldown: counted, no decrease
        bucket.feedback(throttled=True)
    assert bucket.decreases == 1
    clock.now += ratelimit.COOLDOWN_S
    bucket.feedback(throttled=True)  # 10 of 13 answers refused since the last decrease
    assert bucket.current_rate == pytest.approx(low * max(0.1, 3 / 13), rel=0.02)


def test_an_isolated_429_is_recovered_from_quickly_repeated_ones_slowly() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=100, clock=clock, adaptive=True)
    bucket.feedback(throttled=True)  # a stray 429 (the first in a long while)
    assert bucket.current_rate == pytest.approx(70.0)
    for _ in range(70 * 3):  # about three seconds of successes
        bucket.feedback(throttled=False)
    assert bucket.current_rate > 90
    clock.now += 1.0
    bucket.feedback(throttled=True)  # another one soon after: sharing the account, probe slowly
    low = bucket.current_rate
    for _ in range(int(low) * 3):
        bucket.feedback(throttled=False)
    assert bucket.current_rate < low + 4 * ratelimit.INCREASE_PER_S * 100
