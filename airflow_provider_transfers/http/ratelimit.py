"""The client-side rate budget, one gate per request: ``TokenBucket`` (per account and endpoint in one process,
adaptive by default) and ``SharedBucket`` (opt-in: one moving window per account in Redis on top of it). A check's
tokens can be taken up front and spent as a context-local credit (``grant_credit``). See docs/shared_limit.md.
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
from typing import Any, NamedTuple

from airflow_provider_transfers.exceptions import TransferConfigError

log = logging.getLogger(__name__)

DECREASE = 0.7
"""Multiplicative decrease on a 429: the rate becomes 70 % of what it was."""
INCREASE_PER_S = 0.006
"""Additive increase: while requests succeed the rate grows by this share of the limit per second (each process
sharing an account adds it: the faster they climb, the sooner they overshoot together; docs/shared_limit.md)."""
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
Z_MOSTLY = 1.645
"""Standard errors by which the share refused among a few answers must exceed half to cut the rate by that share
before a full measurement (1 in 20 by chance: it is asked at every 429, and 30 % of random 429s often reach
5 of 9)."""
SLOWER = 0.6
"""A measurement tests our pace against an earlier one when it answered at most this share of the earlier pace:
processes sharing an account that slow down a little, or whose neighbours fill the room they leave, keep
their refused share as noise would (docs/shared_limit.md)."""
SHARED_BURST = 2.0
"""Tokens a process pacing at its share of a shared account may save up (a late wake-up catches up)."""
FIRST_ARRIVAL_S = 0.2
"""In a process's own bucket, drawing from a full bucket costs this many seconds of its rate more (Twilio: 4
tokens). The platform's bucket, full too, starts refilling only when that request arrives, and a first request
that opens a connection arrives later than those that follow it: at the full burst, one of them was refused."""

REDIS_TIMEOUT_S = 2.0
"""Longest wait for one Redis answer: a Redis that hangs (port open, no answer) counts as down after it."""
RETRY_REDIS_S = 30.0
"""After a Redis failure, how long the local bucket serves alone before Redis is tried again."""
KEY_PREFIX = "airflow-provider-transfers"
SHARE_TTL_S = 15.0
"""A process's published demand counts this long after its last update (every 0.25 s while it has checks queued)."""
_REDIS_OPTIONS: dict[str, Any] = {"socket_timeout": REDIS_TIMEOUT_S, "socket_connect_timeout": REDIS_TIMEOUT_S}

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


class TokenBucket:
    """A token bucket; with ``adaptive=True`` its rate follows the platform's 429s (AIMD). ``rate``/``burst`` are
    the ceiling, ``current_rate`` the adaptive rate, ``share`` the part of it this process paces at (1 unless
    the account is shared)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        adaptive: bool = False,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        first_arrival: float = 0.0,
    ) -> None:
        """``first_arrival``: seconds of its rate a draw from the full bucket costs more (``FIRST_ARRIVAL_S``)."""
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
        self._first_arrival = first_arrival
        self._tokens = float(burst)
        self._last = clock()
        self._last_decrease = -float("inf")
        self._recover_to = 0.0  # after an isolated decrease: the rate to return to quickly
        self._run_from = rate  # the rate before this run of decreases began: where confirmed noise climbs back to
        self._holding = False  # after a decrease on a full measurement with a noticeable share, in a run of them:
        # no increase until the next measurement is taken (or 2 x MEASURE answers without a 429), at the lower pace
        self._answers = 0  # answers since the last decrease (or measurement), and how many were 429s
        self._refused = 0
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
        """Take ``cost`` tokens; return the seconds to wait before using them (a cost above the burst is granted
        once a full burst is there, the rest paid off by refill)."""
        with self._lock:
            self._refill(self._clock())
            if self._tokens >= self.current_burst:  # never delays the request that finds it full
                spare = self._tokens - min(cost, self.current_burst)
                self._tokens -= min(spare, self._first_arrival * self.current_rate * self.share)
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
        """Publish this process's poll demand; answer the other processes' ``(members, queued)`` (none here)."""
        return []

    def feedback(self, *, throttled: bool, retry_after: float | None = None, concurrent: int | None = None) -> None:
        """One answer: ``throttled`` for a 429, with its ``Retry-After`` and, on Twilio, the account's
        ``Twilio-Concurrent-Requests``."""
        if not self.adaptive:
            return
        with self._lock:
            now = self._clock()
            self._refill(now)
            if self._answers == 0:
                self._since = now
            self._answers += 1
            self._refused += throttled
            if self._noise:
                if self._answers >= MEASURE:
                    self._remeasure_noise(now, self._noise, concurrent)
            elif throttled and self._too_fast(now) and not self._take_as_noise(now):
                self._decrease(now, retry_after, concurrent)
            if self._holding and self._answers >= 2 * MEASURE:
                self._holding = False
            if not throttled and self.current_rate < self.rate and not self._holding:
                # + INCREASE_PER_S x limit per second (successes arrive at the current rate); faster
                # back to where an isolated 429 found it.
                per_s = max(INCREASE_PER_S * self.rate, (self._recover_to - self.current_rate) * RECOVER_PER_S)
                self.current_rate = min(self.rate, self.current_rate + per_s / self.current_rate)

    def _too_fast(self, now: float) -> bool:
        """Whether the answers since the last decrease measure a pace too fast (docs/shared_limit.md)."""
        return (
            now - self._last_decrease > QUIET_S
            or (self._refused == 1 and self._answers > MIN_ANSWERS)
            or self._refused == self._answers
            or (self._answers >= MIN_ANSWERS and _mostly_refused(self._refused, self._answers))
            or self._answers >= MEASURE
        )

    def _measurement(self, now: float) -> _Measurement:
        per_s = (self._answers - 1) / max(now - self._since, 1e-9)
        return _Measurement(self._answers, self._refused, per_s, self.current_rate)

    def _take_as_noise(self, now: float) -> bool:
        """Whether a full measurement taken after slowing down shows these 429s as noise; if so, back to the
        rate the same share was measured at, and each refused request retries on its own. The noise is this
        measurement's share: the earlier one was picked by the 429 that cut the rate."""
        if self._answers < MEASURE:
            return False
        current = self._measurement(now)
        earlier = [m for m in self._measured if _unaffected_by_pace(m, current)]
        if not earlier:
            return False
        self._noise = current
        self._recover_to = max(self.current_rate, *(m.rate for m in earlier))
        self._holding = False
        self._tokens = max(self._tokens, 0.0)
        self._answers = self._refused = 0
        return True

    def _remeasure_noise(self, now: float, noise: _Measurement, concurrent: int | None) -> None:
        """A measurement in line with the noise adds to it and lets the rate climb one step (1 / ``DECREASE``)
        toward the rate before the run of decreases; one out of line ends it, and slows down if higher. Not
        all the way at once: the 429s of processes sharing the account can pass for noise once."""
        current = self._measurement(now)
        self._noise = None if _differ(current, noise) else noise.pooled(current)
        if self._noise is None:
            self._measured.clear()  # taken before the noise ended: they compare nothing now
        else:  # confirmed at this pace: one step further back up, toward the rate before the run of decreases
            self._recover_to = min(self._run_from, max(self._recover_to, self.current_rate) / DECREASE)
        if self._noise is None and current.share > noise.share:
            self._decrease(now, None, concurrent)
        else:
            self._answers = self._refused = 0

    def _decrease(self, now: float, retry_after: float | None, concurrent: int | None) -> None:
        if now - self._last_decrease >= COOLDOWN_S:
            # At least DECREASE; more when the platform refused a larger share since the last decrease.
            refused = self._refused / self._answers if self._answers >= MIN_ANSWERS else 0.0
            factor = min(DECREASE, max(0.1, 1.0 - refused))
            if concurrent and concurrent > 1:
                # Twilio says how many requests the whole account has in flight: go straight to our share.
                factor = min(factor, max(1, self.in_flight) / concurrent)
            isolated = now - self._last_decrease > QUIET_S
            self._recover_to = self.current_rate if isolated else 0.0
            if isolated:
                self._measured.clear()  # measurements from an earlier run of decreases compare nothing now
                self._run_from = self.current_rate
            measured = self._measurement(now) if self._answers >= MEASURE else None
            if measured is not None:
                self._measured.append(measured)
            # Hold only on a share that could be noise: holding on a few 429s (sharing) slows convergence.
            self._holding = measured is not None and _noticeable(measured) and not isolated
            self.current_rate = max(self.min_rate, self.current_rate * factor)
            self._tokens = min(self._tokens, self.current_burst)
            self._last_decrease = now
            self._answers = self._refused = 0
            self.decreases += 1
        if retry_after:
            # The platform asked for a pause: the next token is free ``retry_after`` seconds from now.
            self._tokens = min(self._tokens, 0.0 - retry_after * self.current_rate * self.share)


Bucket = TokenBucket
"""What the client and the poll budget draw from: every bucket is a ``TokenBucket`` (``SharedBucket`` adds Redis)."""


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
    """Whether ``after``, at most ``SLOWER`` times as fast as ``before``, still refused the same share (well above
    0), far above what a limit on our pace would refuse at the new rate."""
    by_pace = max(0.0, 1 - (1 - before.share) * before.per_s / after.per_s)
    return (
        after.per_s <= SLOWER * before.per_s
        and _noticeable(before)
        and after.share > by_pace + Z * _error(after.share, after.answers)
        and not _differ(before, after)
    )


def _noticeable(measured: _Measurement) -> bool:
    """Whether a measurement refused a share well above 0 (``Z`` standard errors): one that noise could explain."""
    return measured.share > Z * _error(measured.share, measured.answers)


def _differ(one: _Measurement, other: _Measurement) -> bool:
    """Whether two measured shares differ by more than ``Z`` standard errors of their difference."""
    pooled = (one.refused + other.refused) / (one.answers + other.answers)
    error = math.sqrt(pooled * (1 - pooled) * (1 / one.answers + 1 / other.answers))
    return abs(one.share - other.share) > Z * error


def _mostly_refused(refused: int, answers: int) -> bool:
    share = refused / answers
    return share - Z_MOSTLY * _error(share, answers) > 0.5


def _error(share: float, answers: int) -> float:
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
            if key not in self._buckets:
                self._buckets[key] = self._new_bucket(key)
            return self._buckets[key]

    def _new_bucket(self, key: str) -> Bucket:
        return TokenBucket(self.rate, self.burst, adaptive=self.adaptive, first_arrival=FIRST_ARRIVAL_S)


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
            from limits.storage import RedisStorage
            from limits.strategies import MovingWindowRateLimiter
        except ImportError:
            raise TransferConfigError(
                "rate_limit_backend needs the 'redis' extra: pip install 'airflow-provider-transfers[redis]'"
            ) from None
        self.url = url
        self.display = redact_url(url)
        storage = RedisStorage(url, wrap_exceptions=True, key_prefix=KEY_PREFIX, **_REDIS_OPTIONS)
        self.sync_limiter = MovingWindowRateLimiter(storage)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._down_until: float | None = None  # after a failure: when to try Redis again

    def async_limiter(self) -> Any:
        loop = asyncio.get_running_loop()
        found = self._async.get(loop)
        if found is None:
            from limits.aio.storage import RedisStorage
            from limits.aio.strategies import MovingWindowRateLimiter

            storage = RedisStorage(
                f"async+{self.url}", wrap_exceptions=True, implementation="redispy", key_prefix=KEY_PREFIX,
                **_REDIS_OPTIONS,
            )  # fmt: skip
            found = self._async[loop] = MovingWindowRateLimiter(storage)
        return found

    def async_client(self) -> Any:
        """A plain redis-py asyncio client for this loop (the demand tally is no rate-limit algorithm)."""
        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is None:
            from redis.asyncio import Redis

            found = self._clients[loop] = Redis.from_url(self.url, **_REDIS_OPTIONS)
        return found

    def available(self) -> bool:
        return self._down_until is None or time.monotonic() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        """Redis failed or did not answer in time: the local bucket alone for ``RETRY_REDIS_S``; one warning."""
        if self._down_until is None:
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {REDIS_TIMEOUT_S:g} s"
            log.warning(
                "rate_limit_backend %s unreachable (%s); using this process's own rate limit, retrying Redis "
                "every %.0f s", self.display, reason, RETRY_REDIS_S,
            )  # fmt: skip
        self._down_until = time.monotonic() + RETRY_REDIS_S

    def answered(self) -> None:
        if self._down_until is not None:
            self._down_until = None
            log.warning("rate_limit_backend %s answers again; sharing the account's rate resumes", self.display)


def _pause(stats: Any) -> float:
    """Until the oldest grant leaves the window (at once if a slot freed meanwhile), plus jitter against collisions."""
    if stats.remaining > 0:
        return random.uniform(0, 0.001)
    return max(0.0005, stats.reset_time - time.time()) + random.uniform(0, 0.001)


class SharedBucket(TokenBucket):
    """A local adaptive bucket pacing this process at its share of the account, then a grant from the account's
    Redis window (one key); the local bucket alone while Redis is down."""

    def __init__(self, backend: _Backend, key: str, rate: float, burst: int, *, adaptive: bool) -> None:
        from limits import RateLimitItemPerSecond

        super().__init__(rate, burst, adaptive=adaptive)
        self.item = RateLimitItemPerSecond(*window_for(rate, burst))
        self.key = key
        self.grants = 0
        self.fallbacks = 0
        self._backend = backend
        self._redis_lock = threading.Lock()  # one poller of Redis per key in this process
        self._alocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._member = uuid.uuid4().hex
        self._demand_key = f"{KEY_PREFIX}:demand:{key}"

    def acquire(self, cost: float = 1.0) -> None:
        if _spend_credit(self):
            return
        super().acquire(cost)
        if not self._backend.available():
            self.fallbacks += 1
            return
        limiter = self._backend.sync_limiter
        with self._redis_lock:
            try:
                while not limiter.hit(self.item, self.key, cost=math.ceil(cost)):
                    time.sleep(_pause(limiter.get_window_stats(self.item, self.key)))
            except Exception as exc:  # StorageError, OSError: Redis is down or hangs, as on the async path
                self._backend.failed(exc)
                self.fallbacks += 1
            else:
                self.grants += 1
                self._backend.answered()

    async def aacquire(self, cost: float = 1.0) -> None:
        if _spend_credit(self):
            return
        await super().aacquire(cost)
        lock = self._alocks.get(loop := asyncio.get_running_loop())
        if lock is None:
            lock = self._alocks[loop] = asyncio.Lock()
        async with lock:
            if not self._backend.available():
                self.fallbacks += 1
                return
            limiter = self._backend.async_limiter()  # set-up (imports) is not timed
            try:
                while not await asyncio.wait_for(
                    limiter.hit(self.item, self.key, cost=math.ceil(cost)), REDIS_TIMEOUT_S
                ):
                    stats = await asyncio.wait_for(limiter.get_window_stats(self.item, self.key), REDIS_TIMEOUT_S)
                    await asyncio.sleep(_pause(stats))
            except Exception as exc:  # StorageError, OSError, TimeoutError: Redis is down or hangs
                self._backend.failed(exc)
                self.fallbacks += 1
            else:
                self.grants += 1
                self._backend.answered()

    async def atally(self, members: float, queued: float) -> list[tuple[float, float]]:
        """Publish this process's poll demand on the key, answer every other live process's and pace at this
        process's share; with Redis unavailable, none, and the last share known stays."""
        if not self._backend.available():
            return []
        client = self._backend.async_client()  # set-up (imports) is not timed
        try:
            others = await asyncio.wait_for(self._exchange(client, members, queued), REDIS_TIMEOUT_S)
        except Exception as exc:  # RedisError, OSError, TimeoutError: keep pacing at the last share known
            self._backend.failed(exc)
            return []
        self._backend.answered()
        self.share = share_among(members, queued, others)
        return others

    async def _exchange(self, client: Any, members: float, queued: float) -> list[tuple[float, float]]:
        now = time.time()
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(self._demand_key, self._member, f"{members:.6g} {queued:.6g} {now + SHARE_TTL_S:.3f}")
            pipe.expire(self._demand_key, math.ceil(SHARE_TTL_S * 2))
            pipe.hgetall(self._demand_key)
            *_, entries = await pipe.execute()
        others: list[tuple[float, float]] = []
        expired: list[Any] = []
        for field, value in entries.items():  # bytes, or text when the URL asks for decode_responses
            try:
                theirs, their_queued, until = (float(part) for part in value.split())
            except ValueError:
                expired.append(field)
                continue
            if until < now or not (math.isfinite(theirs) and math.isfinite(their_queued)):
                expired.append(field)
            elif (field.decode() if isinstance(field, bytes) else field) != self._member:
                others.append((max(0.0, theirs), max(0.0, their_queued)))
        if expired:
            await client.hdel(self._demand_key, *expired)
        return others


def share_among(members: float, queued: float, others: list[tuple[float, float]]) -> float:
    """This process's share of the account's rate: its waits' demand among that of the processes with checks
    queued (a process with nothing queued leaves its share to the others)."""
    mine = members or max(queued, 1.0)  # asked with a check queued: never weightless
    return mine / (mine + sum(m for m, q in others if q > 0))


class SharedRateLimiter(RateLimiter):
    """``RateLimiter`` whose buckets draw from Redis; keys are hashed with the account's scope."""

    def __init__(self, rate: float, burst: int, *, url: str, scope: str, adaptive: bool = True) -> None:
        super().__init__(rate, burst, adaptive=adaptive)
        self.backend = _Backend(url)
        self._scope = hashlib.sha256(scope.encode()).hexdigest()[:24]

    def _new_bucket(self, key: str) -> Bucket:
        return SharedBucket(self.backend, f"{self._scope}:{key}", self.rate, self.burst, adaptive=self.adaptive)
