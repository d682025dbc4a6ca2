"""The shared rate budget: one window per account (and endpoint) in Redis, for every process.

Opt-in with the connection extra ``rate_limit_backend: redis://host:port/db``. The Redis side is the
``limits`` library's *moving window* (a Lua script over a list of timestamps, the same code behind
Flask-Limiter and SlowAPI): at most ``amount`` grants in any ``window`` seconds, across every process
that names the same key. The window is chosen so that anything it admits a platform's token bucket
(``rate``, ``burst``) admits too: ``amount = min(burst, floor(rate x window))`` with ``window`` the
whole number of seconds nearest ``burst / rate`` (Twilio 20/s burst 20: 20 per 1 s; VoIPbin 16.7/s
burst 33: 33 per 2 s).

Inside one process only one waiter per key polls Redis at a time (a lock, FIFO for the event loop),
so N processes put N pollers on Redis, not N x concurrency. Each grant also takes a token from the
local adaptive bucket (the layers below), which only binds if someone outside the shared budget makes
the platform answer 429.

Waits in several triggerers share the account too: ``SharedBucket.atally`` keeps a tally of each
process's poll demand (its waits' requests per round of checks, and those queued for a turn now) in a
Redis hash next to the window, each entry stamped with an expiry ``SHARE_TTL_S`` ahead so a process
that died stops counting, and answers the other processes' entries. The triggerer's ``PollBudget``
paces its checks at its share of the rate, weighted by its waits, among the processes with checks
queued (``waiting/budget.py``), so the account's waits are served about round-robin whichever process
holds them, and the task log states the interval from the whole account's demand.

Redis unreachable (or failing): a warning, and the local bucket alone for ``RETRY_REDIS_S`` seconds,
then Redis again. A task never fails because of the rate-limit backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import threading
import time
import uuid
import weakref
from typing import Any

from airflow_provider_transfers.exceptions import TransferConfigError
from airflow_provider_transfers.http.ratelimit import RateLimiter, TokenBucket

log = logging.getLogger(__name__)

RETRY_REDIS_S = 30.0
"""After a Redis failure, how long the local bucket serves alone before Redis is tried again."""
SOCKET_TIMEOUT_S = 1.0
KEY_PREFIX = "airflow-provider-transfers"
SHARE_TTL_S = 15.0
"""A process's published demand counts this long after its last update (every 0.25 s while it has checks queued)."""


def window_for(rate: float, burst: int) -> tuple[int, int]:
    """``(amount, seconds)`` of a moving window that never admits more than a (rate, burst) bucket."""
    seconds = max(1, round(burst / rate))
    amount = max(1, min(burst, math.floor(rate * seconds)))
    return amount, seconds


def redact_url(url: str) -> str:
    """The backend URL without its password, for log lines."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"


class _Backend:
    """The ``limits`` storages (one sync, one async per event loop) and the strategy over them."""

    def __init__(self, url: str) -> None:
        try:
            import limits  # noqa: F401
        except ImportError:
            raise TransferConfigError(
                "rate_limit_backend needs the 'redis' extra: pip install 'airflow-provider-transfers[redis]'"
            ) from None
        self.url = url
        self.display = redact_url(url)
        self._sync: Any = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._warned_at = -math.inf

    def _options(self) -> dict[str, Any]:
        return {"socket_timeout": SOCKET_TIMEOUT_S, "socket_connect_timeout": SOCKET_TIMEOUT_S}

    def sync_limiter(self) -> Any:
        with self._lock:
            if self._sync is None:
                from limits.storage import RedisStorage
                from limits.strategies import MovingWindowRateLimiter

                storage = RedisStorage(self.url, wrap_exceptions=True, key_prefix=KEY_PREFIX, **self._options())
                self._sync = MovingWindowRateLimiter(storage)
            return self._sync

    def async_limiter(self) -> Any:
        loop = asyncio.get_running_loop()
        found = self._async.get(loop)
        if found is None:
            from limits.aio.storage import RedisStorage
            from limits.aio.strategies import MovingWindowRateLimiter

            storage = RedisStorage(
                f"async+{self.url}",
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                **self._options(),
            )
            found = self._async[loop] = MovingWindowRateLimiter(storage)
        return found

    def async_client(self) -> Any:
        """A plain redis-py asyncio client for this loop (the demand tally is no rate-limit algorithm)."""
        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is None:
            from redis.asyncio import Redis

            found = self._clients[loop] = Redis.from_url(self.url, **self._options())
        return found

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._down_until = now + RETRY_REDIS_S
        if now - self._warned_at >= RETRY_REDIS_S:
            self._warned_at = now
            log.warning(
                "rate_limit_backend %s unreachable (%s: %s); using this process's own rate limit for %.0f s",
                self.display,
                type(exc).__name__,
                str(exc)[:200],
                RETRY_REDIS_S,
            )


class SharedBucket:
    """One key's grants from Redis, on top of (and falling back to) the local adaptive bucket."""

    def __init__(self, backend: _Backend, key: str, rate: float, burst: int, local: TokenBucket) -> None:
        from limits import RateLimitItemPerSecond

        amount, seconds = window_for(rate, burst)
        self.item = RateLimitItemPerSecond(amount, seconds)
        self.key = key
        self.local = local
        self._backend = backend
        self._lock = threading.Lock()
        self._alocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self.grants = 0
        self.fallbacks = 0
        self._member = uuid.uuid4().hex
        self._demand_key = f"{KEY_PREFIX}:demand:{key}"

    @property
    def in_flight(self) -> int:
        return self.local.in_flight

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        self.local.in_flight = value

    def feedback(self, *, throttled: bool, retry_after: float | None = None, concurrent: int | None = None) -> None:
        self.local.feedback(throttled=throttled, retry_after=retry_after, concurrent=concurrent)

    @staticmethod
    def _pause(stats: Any) -> float:
        """Until the oldest grant leaves the window (a little jitter so processes do not collide).

        A slot that freed between the refused hit and the window read is retried at once: sleeping
        until the *next* oldest grant leaves would waste up to a whole window.
        """
        if stats.remaining > 0:
            return random.uniform(0, 0.001)
        return max(0.0005, stats.reset_time - time.time()) + random.uniform(0, 0.001)

    def acquire(self) -> None:
        self.local.acquire()
        if not self._backend.available():
            self.fallbacks += 1
            return
        from limits.errors import StorageError

        with self._lock:
            try:
                limiter = self._backend.sync_limiter()
                while not limiter.hit(self.item, self.key):
                    time.sleep(self._pause(limiter.get_window_stats(self.item, self.key)))
                self.grants += 1
            except (StorageError, OSError) as exc:
                self._backend.failed(exc)
                self.fallbacks += 1

    async def aacquire(self) -> None:
        await self.local.aacquire()
        if not self._backend.available():
            self.fallbacks += 1
            return
        from limits.errors import StorageError

        loop = asyncio.get_running_loop()
        lock = self._alocks.get(loop)
        if lock is None:
            lock = self._alocks[loop] = asyncio.Lock()
        async with lock:
            if not self._backend.available():
                self.fallbacks += 1
                return
            try:
                limiter = self._backend.async_limiter()
                while not await limiter.hit(self.item, self.key):
                    pause = self._pause(await limiter.get_window_stats(self.item, self.key))
                    await asyncio.sleep(pause)
                self.grants += 1
            except (StorageError, OSError) as exc:
                self._backend.failed(exc)
                self.fallbacks += 1

    async def atally(self, members: float, queued: float) -> list[tuple[float, float]]:
        """Publish this process's poll demand on the key; answer every other live process's.

        ``members``: requests per round of checks of its waits; ``queued``: of the checks queued for a
        turn now (``waiting.budget.Demand``). With Redis unavailable, none (this process is alone then).
        """
        if not self._backend.available():
            return []
        from redis.exceptions import RedisError

        now = time.time()
        try:
            client = self._backend.async_client()
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(self._demand_key, self._member, f"{members:.6g} {queued:.6g} {now + SHARE_TTL_S:.3f}")
                pipe.expire(self._demand_key, math.ceil(SHARE_TTL_S * 2))
                pipe.hgetall(self._demand_key)
                *_, entries = await pipe.execute()
            others, expired = _live_demands(entries, now, self._member)
            if expired:
                await client.hdel(self._demand_key, *expired)
        except (RedisError, OSError) as exc:
            self._backend.failed(exc)
            return []
        return others


def _live_demands(entries: dict[Any, Any], now: float, own: str) -> tuple[list[tuple[float, float]], list[Any]]:
    """The (members, queued) of the live entries but ``own``, and the fields of expired or unreadable ones.

    Fields and values are bytes, or text when the backend URL asks for ``decode_responses``.
    """
    live: list[tuple[float, float]] = []
    expired: list[Any] = []
    for field, value in entries.items():
        try:
            members, queued, until = (float(part) for part in value.split())
        except ValueError:
            expired.append(field)
            continue
        if until < now or not (math.isfinite(members) and math.isfinite(queued)):
            expired.append(field)
        elif (field.decode() if isinstance(field, bytes) else field) != own:
            live.append((max(0.0, members), max(0.0, queued)))
    return live, expired


class SharedRateLimiter(RateLimiter):
    """``RateLimiter`` whose buckets draw from Redis; keys are hashed with the account's scope."""

    def __init__(self, rate: float, burst: int, *, url: str, scope: str, adaptive: bool = True) -> None:
        super().__init__(rate, burst, adaptive=adaptive)
        self.backend = _Backend(url)
        self._scope = hashlib.sha256(scope.encode()).hexdigest()[:24]
        self._shared: dict[str, SharedBucket] = {}

    def bucket(self, key: str) -> SharedBucket:
        local = self.local_bucket(key)
        with self._lock:
            found = self._shared.get(key)
            if found is None:
                shared_key = f"{self._scope}:{key}"
                found = self._shared[key] = SharedBucket(self.backend, shared_key, self.rate, self.burst, local)
            return found
