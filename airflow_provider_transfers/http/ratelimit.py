"""The client-side rate budget, in three layers (chosen per connection):

1. ``TokenBucket``: a local token bucket (one per account and endpoint in one process), usable from
   threads and from an event loop. Reservation-style: ``reserve()`` takes a token now (possibly going
   into debt) and says how long the caller must wait, so waiters queue fairly without a lock held
   across a sleep.
2. Adaptive (AIMD, on by default): the bucket's rate drops multiplicatively on a 429 (and the bucket
   owes the platform's ``Retry-After``), and rises additively while requests succeed, never above the
   configured limit. Several processes sharing one account converge to their share of it without
   talking to each other.
3. Shared (opt-in, ``rate_limit_backend: redis://...``): every process draws from one window per
   account and endpoint in Redis (``http/shared.py``), with layer 1-2 as the fallback.

``RateLimiter`` hands out one bucket per key; the client reports each answer back through
``Bucket.feedback`` so the adaptive layer (and nothing else) sees 429s and successes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Protocol

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


class Bucket(Protocol):
    """What the client needs from a rate-limit bucket."""

    in_flight: int

    def acquire(self) -> None: ...

    async def aacquire(self) -> None: ...

    def feedback(self, *, throttled: bool, retry_after: float | None = None, concurrent: int | None = None) -> None:
        """One answer: ``throttled`` for a 429 (with its ``Retry-After`` and, on Twilio, the account's
        ``Twilio-Concurrent-Requests``), else a success or another error."""


class TokenBucket:
    """A token bucket; with ``adaptive=True`` its rate follows the platform's 429s (AIMD).

    ``rate``/``burst`` are the configured ceiling. The current rate is ``current_rate``; the burst
    shrinks with it (a slowed-down process must not save up the full burst).
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic, *, adaptive: bool = False
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.adaptive = adaptive
        self.min_rate = min(rate, max(0.1, rate * MIN_SHARE))
        self.current_rate = rate
        self.in_flight = 0
        self.decreases = 0
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._last_decrease = -float("inf")
        self._recover_to = 0.0  # after an isolated decrease: the rate to return to quickly
        self._ok_since = 0  # answers since the last decrease: the share the platform refused
        self._throttled_since = 0
        self._lock = threading.Lock()

    @property
    def current_burst(self) -> float:
        return max(1.0, self.burst * self.current_rate / self.rate)

    def _refill(self, now: float) -> None:
        self._tokens = min(self.current_burst, self._tokens + (now - self._last) * self.current_rate)
        self._last = now

    def reserve(self) -> float:
        """Take one token; return the seconds to wait before using it (0 when one was available)."""
        with self._lock:
            self._refill(self._clock())
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.current_rate

    def acquire(self) -> None:
        delay = self.reserve()
        if delay:
            time.sleep(delay)

    async def aacquire(self) -> None:
        delay = self.reserve()
        if delay:
            await asyncio.sleep(delay)

    def feedback(self, *, throttled: bool, retry_after: float | None = None, concurrent: int | None = None) -> None:
        if not self.adaptive:
            return
        with self._lock:
            now = self._clock()
            self._refill(now)
            if throttled:
                self._throttled_since += 1
                self._decrease(now, retry_after, concurrent)
                return
            self._ok_since += 1
            if self.current_rate < self.rate:
                # + INCREASE_PER_S x limit per second (successes arrive at the current rate); faster
                # back to where an isolated 429 found it.
                per_s = max(INCREASE_PER_S * self.rate, (self._recover_to - self.current_rate) * RECOVER_PER_S)
                self.current_rate = min(self.rate, self.current_rate + per_s / self.current_rate)

    def _decrease(self, now: float, retry_after: float | None, concurrent: int | None) -> None:
        if now - self._last_decrease >= COOLDOWN_S:
            # At least DECREASE; more when the platform refused a larger share of what we sent since
            # the last decrease (four processes starting at the full limit see ~75 % refused: they
            # go to about their share at once instead of after several halvings).
            answers = self._throttled_since + self._ok_since
            refused = self._throttled_since / answers if answers >= MIN_ANSWERS else 0.0
            factor = min(DECREASE, max(0.1, 1.0 - refused))
            if concurrent and concurrent > 1:
                # Twilio says how many requests the whole account has in flight: go straight to our share.
                factor = min(factor, max(1, self.in_flight) / concurrent)
            isolated = now - self._last_decrease > QUIET_S
            self._recover_to = self.current_rate if isolated else 0.0
            self.current_rate = max(self.min_rate, self.current_rate * factor)
            self._tokens = min(self._tokens, self.current_burst)
            self._last_decrease = now
            self._ok_since = self._throttled_since = 0
            self.decreases += 1
        if retry_after:
            # The platform asked for a pause: no new request before it ends (the debt is paid at the
            # current rate, so the next token is free ``retry_after`` seconds from now).
            self._tokens = min(self._tokens, 0.0 - retry_after * self.current_rate)


class RateLimiter:
    """One bucket per key (an endpoint for Twilio, the customer for VoIPbin), in this process."""

    def __init__(self, rate: float, burst: int, *, adaptive: bool = False) -> None:
        self.rate = rate
        self.burst = burst
        self.adaptive = adaptive
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, key: str) -> Bucket:
        return self.local_bucket(key)

    def local_bucket(self, key: str) -> TokenBucket:
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                found = self._buckets[key] = TokenBucket(self.rate, self.burst, adaptive=self.adaptive)
            return found
