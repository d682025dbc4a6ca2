"""The shared rate budget against a real ``redis-server`` (started here on a free loopback port)."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_transfers.http import ratelimit as shared
from airflow_provider_transfers.http.ratelimit import SharedRateLimiter, redact_url, window_for
from tests.factories import KD, UO, UX, twilio_transfer
from tests.redis_server import MISSING, RedisServer, free_port, redis_server_path


@pytest.fixture
def redis_url() -> Iterator[str]:
    if redis_server_path() is None:
        pytest.skip(MISSING)
    server = RedisServer()
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def test_the_window_never_admits_more_than_the_platforms_bucket() -> None:
    assert window_for(20, 20) == (20, 1)  # Twilio
    assert window_for(16.7, 33) == (33, 2)  # VoIPbin: 33 per 2 s = 16.5/s, never more than burst 33
    assert window_for(100, 100) == (100, 1)
    assert window_for(5, 1) == (1, 1)
    assert redact_url("redis://:secret@cache:6379/0") == "redis://***@cache:6379/0"


def _grant_loop(url: str, ready: Any, go: Any, seconds: float, out: Any) -> None:
    """One process: 8 concurrent callers take grants for ``seconds``; report the timestamps Redis stored."""

    async def main() -> list[float]:
        limiter = SharedRateLimiter(20, 20, url=url, scope="twilio|acct")
        bucket = limiter.bucket("fetch")
        real = limiter.backend.async_limiter()
        granted: list[float] = []

        class Recording:
            async def hit(self, item: Any, *ids: str, cost: int = 1) -> bool:
                stamp = time.time()  # what limits' storage stores, taken just before it
                ok = bool(await real.hit(item, *ids, cost=cost))
                if ok:
                    granted.append(stamp)
                return ok

            async def get_window_stats(self, item: Any, *ids: str) -> Any:
                return await real.get_window_stats(item, *ids)

        limiter.backend.async_limiter = lambda: Recording()  # type: ignore[method-assign]
        ready.put(True)
        await asyncio.to_thread(go.wait, 60)
        end = time.time() + seconds

        async def caller() -> None:
            while time.time() < end:
                await bucket.aacquire()

        await asyncio.gather(*(caller() for _ in range(8)))
        assert bucket.fallbacks == 0
        return granted

    out.put(asyncio.run(main()))


@pytest.mark.processes
def test_two_processes_never_exceed_the_limit_together(redis_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_grant_loop, args=(redis_url, ready, go, 2.5, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=120)  # both imported and connected: start together
        go.set()
        grants = [queue.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
    assert all(grants), "both processes were granted requests"
    stamps = sorted(t for g in grants for t in g)
    # a moving window of 20 per second: any 21 consecutive grants span at least one second
    tightest = min(stamps[i + 20] - stamps[i] for i in range(len(stamps) - 20))
    assert tightest >= 1.0 - 0.005, f"21 grants within {tightest:.3f} s"
    assert len(stamps) > 21


def test_sync_and_async_callers_share_one_window(redis_url: str) -> None:
    limiter = SharedRateLimiter(5, 5, url=redis_url, scope="voipbin|cust")
    bucket = limiter.bucket("customer")
    for _ in range(3):
        bucket.acquire()

    async def two() -> None:
        await bucket.aacquire()
        await bucket.aacquire()

    asyncio.run(two())
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = client.keys(f"{shared.KEY_PREFIX}*")
    assert len(keys) == 1 and client.llen(keys[0]) == 5  # one window, five grants
    assert b"voipbin|cust" not in keys[0]  # the account is hashed
    assert bucket.grants == 5 and bucket.fallbacks == 0


def test_redis_down_falls_back_to_the_local_bucket_with_a_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, make_twilio_hook: Any
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    hook = make_twilio_hook(rate_limit=20, rate_burst=20, rate_limit_backend=dead)
    with caplog.at_level(logging.WARNING), respx.mock() as router:
        router.get(host="flex-api.twilio.com").mock(return_value=httpx.Response(200, json=twilio_transfer()))
        assert hook.get_transfer(KD, UO, UX).sid == UX
        assert hook.get_transfer(KD, UO, UX).sid == UX
    warnings = [r.getMessage() for r in caplog.records if "rate_limit_backend" in r.getMessage()]
    assert len(warnings) == 1, warnings  # once, not per request
    assert "unreachable" in warnings[0] and "own rate limit" in warnings[0]
    assert hook.api.limiter is not None
    bucket = hook.api.limiter.bucket("fetch")
    assert isinstance(bucket, shared.SharedBucket) and bucket.fallbacks == 2 and bucket.grants == 0


async def test_async_fallback_then_back_to_redis_when_it_returns(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    if redis_server_path() is None:
        pytest.skip(MISSING)
    monkeypatch.setattr(shared, "RETRY_REDIS_S", 0.0)
    server = RedisServer()
    limiter = SharedRateLimiter(50, 50, url=server.url, scope="s")
    bucket = limiter.bucket("fetch")
    with caplog.at_level(logging.WARNING):
        await bucket.aacquire()  # not started yet: local bucket
    assert bucket.fallbacks == 1 and any("unreachable" in r.getMessage() for r in caplog.records)
    try:
        server.start()
        limiter.backend._async.clear()  # a fresh connection pool, as after a real outage
        await bucket.aacquire()
        assert bucket.grants == 1
    finally:
        server.stop()


def test_backend_is_validated_and_shown_without_password() -> None:
    from airflow_provider_transfers.exceptions import TransferConfigError
    from airflow_provider_transfers.http.client import HttpPolicy

    with pytest.raises(TransferConfigError, match="rate_limit_backend: expected a Redis URL"):
        HttpPolicy().merged({"rate_limit_backend": "memcached://x"}, origin="extra")
    assert json.loads(json.dumps(HttpPolicy(rate_limit_backend="rediss://h:1/2").model_dump()))["rate_limit_backend"]


async def test_each_process_sees_the_others_poll_demand_and_the_dead_drop_out(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two limiters on one account (as two triggerers build them) publish and read each other's demand."""
    first = SharedRateLimiter(20, 20, url=redis_url, scope="twilio|acct").bucket("fetch")
    second = SharedRateLimiter(20, 20, url=redis_url, scope="twilio|acct").bucket("fetch")
    elsewhere = SharedRateLimiter(20, 20, url=redis_url, scope="twilio|other").bucket("fetch")
    assert await first.atally(300, 12) == []  # alone so far
    assert await elsewhere.atally(7, 7) == []  # another account: another tally
    assert await second.atally(200, 0) == [(300.0, 12.0)]
    assert await first.atally(290, 5) == [(200.0, 0.0)]
    import redis

    client = redis.Redis.from_url(redis_url)
    key = f"{shared.KEY_PREFIX}:demand:{first.key}"
    assert client.hlen(key) == 2 and 0 < client.ttl(key) <= 2 * shared.SHARE_TTL_S  # the hash ends if all stop
    stamp = client.hget(key, second._member).split()
    client.hset(key, second._member, b" ".join([*stamp[:2], b"%.3f" % (time.time() - 1)]))  # second died
    assert await first.atally(290, 5) == []  # its last word expired: dropped, not counted
    assert client.hkeys(key) == [first._member.encode()]
    assert b"twilio|acct" not in key.encode()  # the account is hashed here too


async def test_the_tally_without_redis_is_alone_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    bucket = SharedRateLimiter(20, 20, url=dead, scope="s").bucket("fetch")
    with caplog.at_level(logging.WARNING):
        assert await bucket.atally(10, 3) == []
        assert await bucket.atally(10, 3) == []
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1


async def test_the_tally_reads_text_replies_too(redis_url: str) -> None:
    """A backend URL with ``decode_responses=True`` makes redis-py answer text: still not counted as another."""
    plain = SharedRateLimiter(20, 20, url=redis_url, scope="acct").bucket("fetch")
    text = SharedRateLimiter(20, 20, url=f"{redis_url}?decode_responses=True", scope="acct").bucket("fetch")
    assert await text.atally(4, 1) == []
    assert await plain.atally(6, 0) == [(4.0, 1.0)]
    assert await text.atally(4, 2) == [(6.0, 0.0)]
