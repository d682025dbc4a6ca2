"""Round-robin turns for the checks that share one connection's request budget in one event loop.

A triggerer may hold a thousand deferred waits on one account. Polling each every ``poll_interval``
asks for ``N / poll_interval`` requests per second; past the platform's limit (Twilio 20/s per endpoint,
VoIPbin 16.7/s) a plain token bucket hands its tokens to whichever coroutine wakes first, so some waits
are checked again and again while others starve and the account collects 429s. ``PollBudget`` queues
every due check and grants turns at the budget's rate, **oldest last check first**: with ``N`` waits
due, each is checked once per ``N * cost / rate`` seconds and none starves. ``effective_interval`` says
what that means for a wait asking for ``poll_interval``, so the task log can state it.

``rate`` is a callable so the budget follows an adaptive limiter (lowered after a 429, raised while
requests succeed); ``None`` or ``0`` means no limit (turns are granted at once, in order).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
_EPSILON = 1e-9
"""Token arithmetic slack: 0.9999999999999998 tokens is one token (else a near-zero sleep spins)."""
Sleep = Callable[[float], Awaitable[None]]


class PollBudget:
    def __init__(
        self,
        rate: Callable[[], float | None],
        *,
        burst: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._rate = rate
        self._burst = max(1.0, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self._burst
        self._refilled = clock()
        self._queue: list[tuple[float, int, float, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self._members: dict[object, float] = {}
        self.granted = 0

    # ------------------------------------------------------------------ membership (for the interval)

    def join(self, member: object, cost: float = 1.0) -> None:
        """Count ``member`` (one wait on one transfer) among those sharing the budget."""
        self._members[member] = cost

    def leave(self, member: object) -> None:
        self._members.pop(member, None)

    @property
    def demand(self) -> float:
        """Requests one round of checks costs: the sum of the members' costs per check."""
        return sum(self._members.values())

    def effective_interval(self, poll_interval: float) -> float:
        """Seconds between two checks of one wait: ``poll_interval``, or longer when the budget says so."""
        rate = self._rate()
        if not rate:
            return poll_interval
        return max(poll_interval, self.demand / rate)

    # ------------------------------------------------------------------ turns

    async def turn(self, last_checked: float, cost: float = 1.0) -> None:
        """Wait until this check may be sent: oldest ``last_checked`` first, within the rate."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (last_checked, next(self._order), cost, future))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        try:
            await future
        except asyncio.CancelledError:
            future.cancel()
            raise

    def _refill(self, rate: float) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * rate)
        self._refilled = now

    async def _dispatch(self) -> None:
        while self._queue:
            _, _, cost, future = self._queue[0]
            if future.done():
                heapq.heappop(self._queue)
                continue
            rate = self._rate()
            if rate:
                self._refill(rate)
                need = min(cost, self._burst)
                if self._tokens < need - _EPSILON:
                    await self._sleep((need - self._tokens) / rate)
                    continue  # the queue's head may have changed while sleeping
                self._tokens -= cost  # may go below zero: a check dearer than the burst is paid off by refill
            heapq.heappop(self._queue)
            self.granted += 1
            future.set_result(None)
            await asyncio.sleep(0)  # let the granted check start before the next grant
