"""A lazy event queue: events due by the sandbox clock run at the start of the next request.

Nothing runs in the background. Every request first calls :meth:`Scheduler.run_due` with the current
sandbox time, so advancing the clock makes everything that became due happen at once, in time order,
each event seeing its own scheduled time (timestamps stay exact).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

Action = Callable[[int], None]


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Action]] = []
        self._seq = itertools.count()

    def at(self, when_us: int, action: Action) -> None:
        heapq.heappush(self._heap, (when_us, next(self._seq), action))

    def run_due(self, now_us: int) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now_us:
            when, _, action = heapq.heappop(heap)
            action(when)

    def __len__(self) -> int:
        return len(self._heap)

    def clear(self) -> None:
        self._heap.clear()
