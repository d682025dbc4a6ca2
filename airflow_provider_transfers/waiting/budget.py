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

**Several processes, one account.** When the rate is a shared limit (``rate_limit_backend``: two
triggerers, say), each process's budget only sees its own waits, and the shared limit grants
requests in whatever order the processes happen to ask, so one process's waits can fall behind the
other's. ``tally`` fixes that: it publishes this budget's ``Demand`` (its waits' requests per round,
and those of the checks queued for a turn right now) where every process sees it, and answers the
other processes' (``http/shared.py`` keeps them in Redis). Each budget then paces its turns at its
share of the rate by weight, the weight being its waits' demand, among the processes that have checks
queued: with every process busy, each gets the share its waits are of the account's, so every wait
is checked about once per ``account demand / rate`` seconds whichever process holds it; a process
with nothing queued leaves its share to the others. The shares add up to the rate, so the shared
limit itself seldom has to refuse (were the processes to ask for more, its grants would again fall to
whichever asks first); a budget with a tally keeps up to ``SHARED_BURST`` turns in hand, so a late
wake-up is caught up instead of leaving a slot of the account idle. The tally is refreshed at most
every ``tally_every`` seconds while checks are queued, once more when the queue drains, and with a
demand of zero on ``aclose``; the task log states the interval from the whole account's demand.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Clock = Callable[[], float]
_EPSILON = 1e-9
"""Token arithmetic slack: 0.9999999999999998 tokens is one token (else a near-zero sleep spins)."""
Sleep = Callable[[float], Awaitable[None]]
SHARED_BURST = 2.0
"""Turns a budget with a tally may have in hand (see the module docstring)."""


@dataclass(frozen=True)
class Demand:
    """Requests per round of checks of every wait (``members``) and of the checks queued now (``queued``)."""

    members: float = 0.0
    queued: float = 0.0


Tally = Callable[[Demand], Awaitable[list[Demand]]]
"""Publishes one budget's ``Demand`` to every process sharing the limit; answers the others' demands."""


class PollBudget:
    def __init__(
        self,
        rate: Callable[[], float | None],
        *,
        tally: Tally | None = None,
        tally_every: float = 0.25,
        burst: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._limit = rate
        self._tally_of = tally
        self._tally_every = tally_every
        self._tallied_at = -float("inf")
        self._tallying = False
        self._published = Demand()
        self._others: list[Demand] = []
        self._share = 1.0
        self._burst = max(1.0, burst, SHARED_BURST if tally is not None else 1.0)
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

    @property
    def account_demand(self) -> float:
        """``demand`` plus that of the other processes sharing the limit, as last tallied."""
        return self.demand + sum(other.members for other in self._others)

    @property
    def share(self) -> float:
        """The share of the rate this budget's turns are paced at; 1 alone."""
        return self._share

    def effective_interval(self, poll_interval: float) -> float:
        """Seconds between two checks of one wait: ``poll_interval``, or longer when the budget says so."""
        rate = self._limit()
        if not rate:
            return poll_interval
        return max(poll_interval, self.account_demand / rate)

    def _rate(self) -> float | None:
        rate = self._limit()
        return rate * self._share if rate else rate

    # ------------------------------------------------------------------ the tally (several processes)

    def _queued(self) -> float:
        return sum(cost for _, _, cost, future in self._queue if not future.done())

    async def _tally(self, *, force: bool = False) -> None:
        if self._tally_of is None or self._tallying:
            return
        if not force and self._clock() - self._tallied_at < self._tally_every:
            return
        own = Demand(self.demand, self._queued())
        self._tallying = True
        try:
            self._others = await self._tally_of(own)
        finally:
            self._tallying = False
        self._tallied_at = self._clock()
        self._published = own
        mine = own.members or max(own.queued, 1.0)  # asked with a check queued: never weightless
        busy = sum(other.members for other in self._others if other.queued > 0)
        self._share = mine / (mine + busy)

    async def aclose(self) -> None:
        """Tell the other processes this budget wants nothing any more."""
        if self._tally_of is not None:
            self._members.clear()
            await self._tally_of(Demand())

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
        while True:
            await self._serve()
            if self._published.queued <= 0:
                return
            await self._tally(force=True)  # the queue drained: say so, or the others keep leaving room
            if not self._queue:
                return

    async def _serve(self) -> None:
        while self._queue:
            _, _, cost, future = self._queue[0]
            if future.done():
                heapq.heappop(self._queue)
                continue
            await self._tally()
            rate = self._rate()
            if rate:
                self._refill(rate)
                need = min(cost, self._burst)
                if self._tokens < need - _EPSILON:
                    pause = (need - self._tokens) / rate
                    if self._tally_of is not None:
                        pause = min(pause, self._tally_every)  # the share may grow meanwhile
                    await self._sleep(pause)
                    continue  # the queue's head may have changed while sleeping
                self._tokens -= cost  # may go below zero: a check dearer than the burst is paid off by refill
            heapq.heappop(self._queue)
            self.granted += 1
            future.set_result(None)
            await asyncio.sleep(0)  # let the granted check start before the next grant
