"""The client-side rate budget: one gate per request.

* ``TokenBucket``: a local bucket per account and endpoint in one process; adaptive (AIMD) by default: its
  rate drops on the 429s that follow its pace (and owes the platform's ``Retry-After``) and climbs back
  while requests succeed. 429s that slowing down does not cure (noise) are left to each request's retry.
* ``SharedBucket`` (opt-in, ``rate_limit_backend: redis://...``): one moving window per account in Redis
  (the ``limits`` library) over the local bucket, which paces this process at its share of the account and
  is the fallback when Redis is down or hangs.

The triggerer's poll budget takes a check's tokens from the bucket up front (``aacquire(cost)``) and hands
them to the check as a *credit* (``grant_credit``); the check's requests spend the credit instead of
acquiring again. See docs/design.md for the measurements behind the constants.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import math
import random
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol

from airflow_provider_transfers.exceptions import TransferConfigError

log = logging.getLogger(__name__)

DECREASE = 0.7
"""Multiplicative decrease on a 429: the rate becomes 70 % of what it was."""
INCREASE_PER_S = 0.01
"""Additive increase: while requests succeed the rate grows by this share of the limit per second."""
MIN_SHARE = 0.02
"""The adaptive rate never drops below this share of the limit (nor below 0.1 requests/s)."""
QUIET_S = 30.0
"""A decrease that follows none in this many seconds is an isolated 429 (a stray burst edge, not sharing)."""
RECOVER_PER_S = 0.5
"""After an isolated decrease the rate closes this share of its gap to the rate before it, per second."""
MIN_ANSWERS = 8
"""The refused share since the last decrease steers the decrease only once this many answers came back."""
COOLDOWN_S = 0.5
"""At most one decrease per this many seconds: the 429s of requests already in flight say nothing new."""
MEASURE = 32
"""Answers per measurement of the refused share: at 30 % refused, one standard error is 8 points (16 with 8)."""
Z = 2.5
"""Standard errors by which a measured share must differ to count (by chance: 1 in 160 per side)."""
SLOWER = 0.8
"""A measurement tests our pace against an earlier one when it answered at most this share of its rate."""
SHARED_BURST = 2.0
"""Tokens a process pacing at its share of a shared account may save up (a late wake-up catches up)."""

REDIS_TIMEOUT_S = 2.0
"""Longest wait for one Redis answer: a Redis that hangs (port open, no answer) counts as down after it."""
RETRY_REDIS_S = 30.0
"""After a Redis failure, how long the local bucket serves alone before Redis is tried again."""
KEY_PREFIX = "airflow-provider-transfers"
SHARE_TTL_S = 15.0
"""A process's published demand counts this long after its last update (every 0.25 s while it has checks queued)."""

_CREDIT: contextvars.ContextVar[tuple[object, float] | None] = contextvars.ContextVar("rate_credit", default=None)


def grant_credit(bucket: object, tokens: float) -> None:
    """Let the current task's next requests on ``bucket`` spend ``tokens`` already taken from it."""
    _CREDIT.set((bucket, tokens))


def _spend_credit(bucket: object) -> bool:
    credit = _CREDIT.get()
    if credit is None or credit[0] is not bucket or credit[1] < 1:
        return False
    _CREDIT.set((bucket, credit[1] - 1))
    return True


class Bucket(Protocol):
    """What the client and the poll budget need from a rate-limit bucket."""

    in_flight: int

    @property
    def current_rate(self) -> float: ...

    @property
    def share(self) -> float:
        """The part of ``current_rate`` this process paces at (1 unless the account is shared)."""

    def acquire(self, cost: float = 1.0) -> None: ...

    async def aacquire(self, cost: float = 1.0) -> None: ...

    def feedback(self, *, throttled: bool, retry_after: float | None = None, concurrent: int | None = None) -> None:
        """One answer: ``throttled`` for a 429 (with its ``Retry-After`` and, on Twilio, the account's
        ``Twilio-Concurrent-Requests``), else a success or another error."""

    async def atally(self, members: float, queued: float) -> list[tuple[float, float]]:
        """Publish this process's poll demand; answer the other processes' ``(members, queued)``."""


class TokenBucket:
    """A token bucket; with ``adaptive=True`` its rate follows the platform's 429s (AIMD).

    ``rate``/``burst`` are the configured ceiling; ``current_rate`` the adaptive rate; ``share`` the part
    of it this process may use (set by a ``SharedBucket`` from the account's tally, else 1).
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        adaptive: bool = False,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.adaptive = adaptive
        self.min_rate = min(rate, max(0.1, rate * MIN_SHARE))
        self.current_rate = rate
        self.share = 1.0
        self.in_flight = 0
        self.decreases = 0
        self._clock = clock
        self._asleep = asleep
        self._tokens = float(burst)
        self._last = clock()
        self._last_decrease = -float("inf")
        self._recover_to = 0.0  # after an isolated decrease: the rate to return to quickly
        self._ok_since = 0  # answers since the last decrease (or measurement): the share the platform refused
        self._throttled_since = 0
        self._since = self._last  # when the first of them came back
        self._measured: deque[_Measurement] = deque(maxlen=3)  # what led to the last decreases of this run
        self._noise: _Measurement | None = None  # the answers that measured the noise, if any is known
        self._lock = threading.Lock()

    @property
    def noise(self) -> float:
        """The share of answers refused whatever our pace (0: none known, every 429 may follow our pace)."""
        return self._noise.share if self._noise else 0.0

    @property
    def current_burst(self) -> float:
        burst = max(1.0, self.burst * self.current_rate / self.rate)
        return burst if self.share >= 1 else min(burst, SHARED_BURST)

    def _refill(self, now: float) -> None:
        self._tokens = min(self.current_burst, self._tokens + (now - self._last) * self.current_rate * self.share)
        self._last = now

    def reserve(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return the seconds to wait before using them (0 when they were there).

        A cost above the burst is granted once a full burst is there, and the rest paid off by refill.
        """
        with self._lock:
            self._refill(self._clock())
            short = min(cost, self.current_burst) - self._tokens
            self._tokens -= cost
            return max(0.0, short) / (self.current_rate * self.share)

    def acquire(self, cost: float = 1.0) -> None:
        if not _spend_credit(self) and (delay := self.reserve(cost)):
            time.sleep(delay)

    async def aacquire(self, cost: float = 1.0) -> None:
        if not _spend_credit(self) and (delay := self.reserve(cost)):
            await self._asleep(delay)

    async def atally(self, members: float, queued: float) -> list[tuple[float, float]]:
        return []  # one process alone on the account

    def feedback(self, *, throttled: bool, retry_after: float | None = None, concurrent: int | None = None) -> None:
        if not self.adaptive:
            return
        with self._lock:
            now = self._clock()
            self._refill(now)
            if self._throttled_since + self._ok_since == 0:
                self._since = now
            if throttled:
                self._throttled_since += 1
            else:
                self._ok_since += 1
            if self._noise:
                if self._throttled_since + self._ok_since >= MEASURE:
                    self._remeasure_noise(now, self._noise, concurrent)
            elif throttled and self._too_fast(now) and not self._take_as_noise(now):
                self._decrease(now, retry_after, concurrent)
            if not throttled and self.current_rate < self.rate:
                # + INCREASE_PER_S x limit per second (successes arrive at the current rate); faster
                # back to where an isolated 429 found it.
                per_s = max(INCREASE_PER_S * self.rate, (self._recover_to - self.current_rate) * RECOVER_PER_S)
                self.current_rate = min(self.rate, self.current_rate + per_s / self.current_rate)

    def _too_fast(self, now: float) -> bool:
        """Whether the answers since the last decrease show that we send too fast: the first 429 in a long
        while or after ``MIN_ANSWERS`` successes, nothing but 429s, most of ``MIN_ANSWERS`` or more refused,
        or a full measurement. A few answers, some of them successes, do not measure a share yet (at 30 %
        refused, 8 answers measure it +-16 points)."""
        answers = self._throttled_since + self._ok_since
        return (
            now - self._last_decrease > QUIET_S
            or (self._throttled_since == 1 and self._ok_since >= MIN_ANSWERS)
            or self._ok_since == 0
            or (answers >= MIN_ANSWERS and 2 * self._throttled_since > answers)
            or answers >= MEASURE
        )

    def _measurement(self, now: float) -> _Measurement:
        """The answers since the last decrease (or noise check)."""
        answers = self._throttled_since + self._ok_since
        per_s = (answers - 1) / max(now - self._since, 1e-9)
        return _Measurement(answers, self._throttled_since, per_s, self.current_rate)

    def _take_as_noise(self, now: float) -> bool:
        """Whether a full measurement, taken after slowing down, refuses the share an earlier one did, far
        more than a limit on our pace would at the new rate: then those 429s are noise (a flaky gateway or
        proxy). The rate returns to where that earlier share was measured, without the pauses its 429s asked
        for; each refused request is retried on its own (``Retry-After`` honoured per request)."""
        if self._throttled_since + self._ok_since < MEASURE:
            return False
        current = self._measurement(now)
        earlier = [m for m in self._measured if _unaffected_by_pace(m, current)]
        if not earlier:
            return False
        self._noise = earlier[-1].pooled(current)
        self._recover_to = max(self.current_rate, earlier[-1].rate)
        self._tokens = max(self._tokens, 0.0)
        self._new_measurement()
        return True

    def _remeasure_noise(self, now: float, noise: _Measurement, concurrent: int | None) -> None:
        """With noise known, each full measurement: a share in line with it adds to it; one out of line ends
        it (429s count again), and more refused than the noise is our pace (or the account's): slow down."""
        current = self._measurement(now)
        if not _differ(current, noise):
            self._noise = noise.pooled(current)
            self._new_measurement()
            return
        self._noise = None
        if current.share > noise.share:
            self._decrease(now, None, concurrent)
        else:
            self._new_measurement()

    def _new_measurement(self) -> None:
        self._ok_since = self._throttled_since = 0

    def _decrease(self, now: float, retry_after: float | None, concurrent: int | None) -> None:
        if now - self._last_decrease >= COOLDOWN_S:
            # At least DECREASE; more when the platform refused a larger share of what we sent since the
            # last decrease (processes starting together at the full limit go to about their share at once).
            answers = self._throttled_since + self._ok_since
            refused = self._throttled_since / answers if answers >= MIN_ANSWERS else 0.0
            factor = min(DECREASE, max(0.1, 1.0 - refused))
            if concurrent and concurrent > 1:
                # Twilio says how many requests the whole account has in flight: go straight to our share.
                factor = min(factor, max(1, self.in_flight) / concurrent)
            isolated = now - self._last_decrease > QUIET_S
            self._recover_to = self.current_rate if isolated else 0.0
            if isolated:
                self._measured.clear()  # measurements from an earlier run of decreases compare nothing now
            if answers >= MEASURE:
                self._measured.append(self._measurement(now))
            self.current_rate = max(self.min_rate, self.current_rate * factor)
            self._tokens = min(self._tokens, self.current_burst)
            self._last_decrease = now
            self._new_measurement()
            self.decreases += 1
        if retry_after:
            # The platform asked for a pause: no new request before it ends (the debt is paid at the
            # current rate, so the next token is free ``retry_after`` seconds from now).
            self._tokens = min(self._tokens, 0.0 - retry_after * self.current_rate * self.share)


class _Measurement(NamedTuple):
    """Consecutive answers: how many, how many refused, how many per second, at which adaptive rate."""

    answers: int
    refused: int
    per_s: float
    rate: float

    @property
    def share(self) -> float:
        return self.refused / self.answers

    def pooled(self, later: _Measurement) -> _Measurement:
        """Both measurements as one (at the later one's pace)."""
        return _Measurement(self.answers + later.answers, self.refused + later.refused, later.per_s, later.rate)


def _unaffected_by_pace(before: _Measurement, after: _Measurement) -> bool:
    """Whether ``after`` came back at most ``SLOWER`` times as fast as ``before`` and still refused the same
    share (well above 0), far above what a limit on our pace would refuse at the new rate: such a limit
    lets through what ``before`` admitted per second."""
    by_pace = max(0.0, 1 - (1 - before.share) * before.per_s / after.per_s)
    return (
        after.per_s <= SLOWER * before.per_s
        and before.share > Z * _error(before.share, before.answers)
        and after.share > by_pace + Z * _error(after.share, after.answers)
        and not _differ(before, after)
    )


def _differ(one: _Measurement, other: _Measurement) -> bool:
    """Whether two measured shares differ by more than ``Z`` standard errors of their difference."""
    pooled = (one.refused + other.refused) / (one.answers + other.answers)
    error = math.sqrt(pooled * (1 - pooled) * (1 / one.answers + 1 / other.answers))
    return abs(one.share - other.share) > Z * error


def _error(share: float, answers: int) -> float:
    """The standard error of a share measured on ``answers`` answers."""
    return math.sqrt(share * (1 - share) / answers)


class RateLimiter:
    """One bucket per key (an endpoint for Twilio, the customer for VoIPbin), in this process."""

    def __init__(self, rate: float, burst: int, *, adaptive: bool = False) -> None:
        self.rate = rate
        self.burst = burst
        self.adaptive = adaptive
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def bucket(self, key: str) -> Bucket:
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                found = self._buckets[key] = self._new_bucket(key)
            return found

    def _new_bucket(self, key: str) -> Bucket:
        return TokenBucket(self.rate, self.burst, adaptive=self.adaptive)


# --------------------------------------------------------------------------------------------- shared


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
    """Redis through ``limits`` (the window) and redis-py (the tally); whether it answers, bounded in time."""

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
        self._down = False

    def _options(self) -> dict[str, Any]:
        return {"socket_timeout": REDIS_TIMEOUT_S, "socket_connect_timeout": REDIS_TIMEOUT_S}

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
                f"async+{self.url}", wrap_exceptions=True, implementation="redispy", key_prefix=KEY_PREFIX,
                **self._options(),
            )  # fmt: skip
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
        """Redis failed or did not answer in time: the local bucket alone for ``RETRY_REDIS_S``; one warning."""
        self._down_until = time.monotonic() + RETRY_REDIS_S
        if not self._down:
            self._down = True
            log.warning(
                "rate_limit_backend %s unreachable (%s); using this process's own rate limit, retrying Redis "
                "every %.0f s", self.display, _reason(exc), RETRY_REDIS_S,
            )  # fmt: skip

    def answered(self) -> None:
        if self._down:
            self._down = False
            log.warning("rate_limit_backend %s answers again; sharing the account's rate resumes", self.display)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {REDIS_TIMEOUT_S:g} s"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


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

    @property
    def current_rate(self) -> float:
        return self.local.current_rate

    @property
    def share(self) -> float:
        return self.local.share

    def feedback(self, *, throttled: bool, retry_after: float | None = None, concurrent: int | None = None) -> None:
        self.local.feedback(throttled=throttled, retry_after=retry_after, concurrent=concurrent)

    @staticmethod
    def _pause(stats: Any) -> float:
        """Until the oldest grant leaves the window (a little jitter so processes do not collide).

        A slot that freed between the refused hit and the window read is retried at once: sleeping until
        the *next* oldest grant leaves would waste up to a whole window.
        """
        if stats.remaining > 0:
            return random.uniform(0, 0.001)
        return max(0.0005, stats.reset_time - time.time()) + random.uniform(0, 0.001)

    def acquire(self, cost: float = 1.0) -> None:
        if _spend_credit(self):
            return
        self.local.acquire(cost)
        if not self._backend.available():
            self.fallbacks += 1
            return
        from limits.errors import StorageError

        with self._lock:
            try:
                limiter = self._backend.sync_limiter()
                while not limiter.hit(self.item, self.key, cost=math.ceil(cost)):
                    time.sleep(self._pause(limiter.get_window_stats(self.item, self.key)))
                self.grants += 1
                self._backend.answered()
            except (StorageError, OSError) as exc:
                self._backend.failed(exc)
                self.fallbacks += 1

    async def aacquire(self, cost: float = 1.0) -> None:
        if _spend_credit(self):
            return
        await self.local.aacquire(cost)
        lock = self._alocks.get(loop := asyncio.get_running_loop())
        if lock is None:
            lock = self._alocks[loop] = asyncio.Lock()
        async with lock:
            if not self._backend.available():
                self.fallbacks += 1
                return
            limiter = self._backend.async_limiter()  # set-up (imports) is not timed
            try:
                await self._ahit(limiter, math.ceil(cost))
                self.grants += 1
                self._backend.answered()
            except Exception as exc:  # StorageError, OSError, TimeoutError: Redis is down or hangs
                self._backend.failed(exc)
                self.fallbacks += 1

    async def _ahit(self, limiter: Any, cost: int) -> None:
        while not await asyncio.wait_for(limiter.hit(self.item, self.key, cost=cost), REDIS_TIMEOUT_S):
            stats = await asyncio.wait_for(limiter.get_window_stats(self.item, self.key), REDIS_TIMEOUT_S)
            await asyncio.sleep(self._pause(stats))

    async def atally(self, members: float, queued: float) -> list[tuple[float, float]]:
        """Publish this process's poll demand on the key; answer every other live process's.

        ``members``: requests per round of checks of its waits; ``queued``: of the checks queued for a turn
        now. Sets the local bucket's share: this process's waits among those of the processes with checks
        queued. With Redis unavailable, none, and the last share known stays (every process keeps to its part
        of the account through an outage instead of all sending at the full rate).
        """
        if not self._backend.available():
            return []
        client = self._backend.async_client()  # set-up (imports) is not timed
        try:
            others = await asyncio.wait_for(self._exchange(client, members, queued), REDIS_TIMEOUT_S)
        except Exception as exc:  # RedisError, OSError, TimeoutError: keep pacing at the last share known
            self._backend.failed(exc)
            return []
        self._backend.answered()
        self.local.share = share_among(members, queued, others)
        return others

    async def _exchange(self, client: Any, members: float, queued: float) -> list[tuple[float, float]]:
        now = time.time()
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(self._demand_key, self._member, f"{members:.6g} {queued:.6g} {now + SHARE_TTL_S:.3f}")
            pipe.expire(self._demand_key, math.ceil(SHARE_TTL_S * 2))
            pipe.hgetall(self._demand_key)
            *_, entries = await pipe.execute()
        others, expired = _live_demands(entries, now, self._member)
        if expired:
            await client.hdel(self._demand_key, *expired)
        return others


def share_among(members: float, queued: float, others: list[tuple[float, float]]) -> float:
    """This process's share of the account's rate: its waits' demand among that of the processes with checks
    queued (a process with nothing queued leaves its share to the others)."""
    mine = members or max(queued, 1.0)  # asked with a check queued: never weightless
    return mine / (mine + sum(m for m, q in others if q > 0))


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

    def _new_bucket(self, key: str) -> Bucket:
        local = TokenBucket(self.rate, self.burst, adaptive=self.adaptive)
        return SharedBucket(self.backend, f"{self._scope}:{key}", self.rate, self.burst, local)
