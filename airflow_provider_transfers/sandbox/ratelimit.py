"""Server-side token buckets, keyed per platform identity (Twilio: account + endpoint; VoIPbin: customer)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable


class _Bucket:
    __slots__ = ("last", "tokens")

    def __init__(self, tokens: float, last: float) -> None:
        self.tokens = tokens
        self.last = last


class RateLimiter:
    def __init__(self, time_fn: Callable[[], float] = time.monotonic) -> None:
        self._time = time_fn
        self._buckets: dict[Hashable, _Bucket] = {}

    def acquire(self, key: Hashable, rate: float, burst: float) -> int | None:
        """Take one token; ``None`` when allowed, else the whole seconds until a token is free (min 1).

        A rate of 0 disables the limit for that key.
        """
        if rate <= 0:
            return None
        now = self._time()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(burst, now)
        else:
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.last) * rate)
            bucket.last = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def reset(self) -> None:
        self._buckets.clear()
