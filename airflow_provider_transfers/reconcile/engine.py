"""Concurrent checking with ordered output and bounded memory.

``ordered_map`` runs ``work`` on items from an iterator with at most ``concurrency`` calls in progress
and at most ``window`` items started but not yet emitted (default ``max(4 * concurrency, 1024)``).
Results are emitted strictly in input order; only completions ahead of the oldest unfinished item
are buffered, so memory is bounded by the window, not by the number of items. The window is larger
than the concurrency so that one slow item (a request waiting out a ``Retry-After``) does not stall
the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

MIN_WINDOW = 1024
"""Default window floor: a row waiting out a 1 s ``Retry-After`` at 500 req/s must not stall the rest."""

T = TypeVar("T")
R = TypeVar("R")


async def ordered_map(
    items: Iterable[T],
    work: Callable[[T], Awaitable[R]],
    emit: Callable[[list[R]], None],
    *,
    concurrency: int,
    window: int | None = None,
) -> int:
    """Run ``work`` over ``items``; call ``emit`` with each run of consecutive in-order results.

    Returns the number of items processed. If ``work`` raises, everything still running is cancelled
    and the exception propagates; results already emitted stay emitted (that is what makes a crashed
    run resumable).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    limit = max(window or max(4 * concurrency, MIN_WINDOW), concurrency)
    slots = asyncio.Semaphore(concurrency)

    async def run(item: T) -> R:
        async with slots:
            return await work(item)

    source = iter(items)
    pending: dict[asyncio.Task[R], int] = {}
    finished: dict[int, R] = {}
    started = emitted = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) + len(finished) < limit:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending[asyncio.create_task(run(item))] = started
                started += 1
            if not pending:
                break
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                finished[pending.pop(task)] = task.result()
            batch: list[R] = []
            while emitted in finished:
                batch.append(finished.pop(emitted))
                emitted += 1
            if batch:
                emit(batch)
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return emitted
