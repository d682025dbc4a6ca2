"""Clients pacing through adaptive ``TokenBucket``s against a simulated platform, on a fake clock.

The platform refuses a random ``noise`` share of the requests (429s that slowing down cannot cure) and,
with ``limit``, whatever exceeds ``limit`` requests/s (a token bucket of ``burst``, by default ``limit``, as the
sandbox's limiter). Each client keeps ``concurrency`` requests going through its bucket and retries a refused one
after its ``Retry-After`` (1 s), as ``ApiClient`` does (without a cap on the attempts). A request reaches the
platform ``latency_s`` after its turn (0.8 to 1.2 times that, at random).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_transfers.http.ratelimit import TokenBucket

RETRY_AFTER_S = 1.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Platform:
    """Answers a request: ``True`` for a 429 (random noise first, then the rate limit)."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        noise: float = 0.0,
        limit: float | None = None,
        burst: float | None = None,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.noise = noise
        self.limit = limit
        self.burst = burst or limit or 0.0
        self._random = random.Random(seed)
        self._tokens = self.burst
        self._last = clock()
        self.refused_as_noise = 0
        self.refused_by_limit = 0
        self.admitted = 0

    def refuses(self) -> bool:
        if self._random.random() < self.noise:
            self.refused_as_noise += 1
            return True
        if self.limit is not None:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.limit)
            self._last = now
            if self._tokens < 1:
                self.refused_by_limit += 1
                return True
            self._tokens -= 1
        self.admitted += 1
        return False

    @property
    def requests(self) -> int:
        return self.refused_as_noise + self.refused_by_limit + self.admitted


@dataclass
class Client:
    """One process: its bucket, the requests it still has to get answered, and the most noise it judged."""

    bucket: TokenBucket
    remaining: int
    start_s: float = 0.0
    most_noise: float = 0.0
    rates: list[float] = field(default_factory=list)


def run(
    clock: FakeClock, platform: Platform, clients: list[Client], *, concurrency: int = 16, latency_s: float = 0.0
) -> None:
    """Until every client's requests were admitted (each request retried until it is)."""
    events: list[tuple[float, int, Callable[[], None]]] = []
    order = itertools.count()
    jitter = random.Random(0)

    def at(when: float, action: Callable[[], None]) -> None:
        heapq.heappush(events, (when, next(order), action))

    def send(client: Client) -> None:
        delay = client.bucket.reserve() + latency_s * jitter.uniform(0.8, 1.2)
        at(clock.now + delay, lambda: answer(client))

    def answer(client: Client) -> None:
        refused = platform.refuses()
        client.bucket.feedback(throttled=refused, retry_after=RETRY_AFTER_S if refused else None)
        client.most_noise = max(client.most_noise, client.bucket.noise)
        client.rates.append(client.bucket.current_rate)
        if refused:
            at(clock.now + RETRY_AFTER_S, lambda: send(client))
        elif client.remaining > 0:
            client.remaining -= 1
            send(client)

    for client in clients:
        for _ in range(min(concurrency, client.remaining)):
            client.remaining -= 1
            at(clock.now + client.start_s, lambda c=client: send(c))  # type: ignore[misc]
    while events:
        clock.now, _, action = heapq.heappop(events)
        action()
