"""``PollBudget``: round-robin turns, oldest last check first, for the checks of every trigger on one connection in
one event loop. A turn takes the check's tokens from the connection's bucket and hands them to the check as its
credit; the budget publishes its poll demand through the bucket (docs/waiting/trigger.md, docs/shared_limit.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import time
from collections.abc import Callable

from airflow_provider_transfers.http.ratelimit import Bucket, grant_credit


class PollBudget:
    def __init__(
        self, bucket: Bucket | None, *, tally_every: float = 0.25, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.bucket = bucket
        self.granted = 0
        self._tally_every = tally_every
        self._clock = clock
        self._tallied_at = -float("inf")
        self._published_queued = 0.0
        self._others: list[tuple[float, float]] = []  # the other processes' (members, queued), as last tallied
        self._queue: list[tuple[float, int, float, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self.members: dict[object, float] = {}
        """Who polls here (one wait on one transfer) and the requests one of its checks costs."""
        self._in_hand = 0.0  # tokens taken and not yet granted (the queue's head can change during a wait)

    @property
    def account_demand(self) -> float:
        """Requests one round of checks costs: this process's members, and the other processes' as last tallied."""
        return sum(self.members.values()) + sum(members for members, _ in self._others)

    @property
    def share(self) -> float:
        return self.bucket.share if self.bucket is not None else 1.0

    def effective_interval(self, poll_interval: float) -> float:
        """Seconds between two checks of one wait: ``poll_interval``, or longer when the rate says so."""
        if self.bucket is None:
            return poll_interval
        return max(poll_interval, self.account_demand / self.bucket.current_rate)

    async def turn(self, last_checked: float, cost: float = 1.0) -> None:
        """Wait until this check may be sent (oldest ``last_checked`` first); its tokens are then taken."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (last_checked, next(self._order), cost, future))
        if self._dispatcher is None or self._dispatcher.done():
            # Its own empty context: no check's rate credit may leak into the dispatcher's acquisitions.
            self._dispatcher = asyncio.create_task(self._dispatch(), context=contextvars.Context())
        await future  # cancelling the waiting task cancels the future: the dispatcher drops it
        if self.bucket is not None:
            grant_credit(self.bucket, cost)

    async def aclose(self) -> None:
        """Tell the other processes this budget wants nothing any more."""
        self.members.clear()
        if self.bucket is not None:
            await self.bucket.atally(0.0, 0.0)

    async def _tally(self, *, force: bool = False) -> None:
        if self.bucket is None or (not force and self._clock() - self._tallied_at < self._tally_every):
            return
        queued = sum(cost for _, _, cost, future in self._queue if not future.done())
        self._tallied_at = self._clock()
        self._published_queued = queued
        self._others = await self.bucket.atally(sum(self.members.values()), queued)

    async def _dispatch(self) -> None:
        while self._queue:
            await self._tally()
            cost = self._head_cost()
            if self.bucket is not None and cost is not None and self._in_hand < cost:
                await self.bucket.aacquire(cost - self._in_hand)  # the head may change while this waits
                self._in_hand = cost
            head = self._head_cost()
            if head is None:
                continue  # none left, or cancelled meanwhile: the tokens in hand serve the next check
            _, _, _, future = heapq.heappop(self._queue)
            self._in_hand -= head  # below zero: a dearer check came first; the next acquire pays it off
            self.granted += 1
            future.set_result(None)
            await asyncio.sleep(0)  # let the granted check start before the next grant
        if self._published_queued > 0:
            await self._tally(force=True)  # the queue drained: say so, or the others keep leaving room

    def _head_cost(self) -> float | None:
        """The cost of the oldest check still waiting (cancelled ones dropped), or ``None``."""
        while self._queue and self._queue[0][3].done():
            heapq.heappop(self._queue)
        return self._queue[0][2] if self._queue else None
