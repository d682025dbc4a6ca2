"""Concurrent checking, each result handed on as soon as it is ready (completion order, bounded memory)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def completion_map(
    items: Iterable[T],
    work: Callable[[T], Awaitable[R]],
    emit: Callable[[list[R]], None],
    *,
    concurrency: int,
) -> int:
    """Run ``work`` over ``items``, at most ``concurrency`` at a time; ``emit`` each batch of finished results.

    Items are pulled lazily (one per free slot). Returns the number of results emitted. If ``work`` or the
    iterator raises, the results that finished alongside are still emitted, everything still running is
    cancelled and the exception propagates: what was emitted stays emitted (a crashed run resumes after it).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")

    async def run(item: T) -> R:
        return await work(item)

    source = iter(items)
    pending: set[asyncio.Task[R]] = set()
    emitted = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < concurrency:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.add(asyncio.create_task(run(item)))
            if not pending:
                break
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            failure = next((task.exception() for task in done if task.exception() is not None), None)
            results = [task.result() for task in done if task.exception() is None]
            if results:
                emit(results)
                emitted += len(results)
            if failure is not None:
                raise failure
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return emitted
