"""Concurrent checking, each result handed on as soon as it is ready (completion order, bounded memory)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def completion_map(
    items: Iterable[T],
    work: Callable[[T], Coroutine[Any, Any, R]],
    emit: Callable[[list[R]], None],
    *,
    concurrency: int,
) -> int:
    """Run ``work`` over ``items`` (pulled lazily), at most ``concurrency`` at a time; ``emit`` each batch of
    finished results; return how many. On a failure the results finished alongside are still emitted, the
    rest is cancelled and the exception propagates (a crashed run resumes after what was emitted)."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    source = iter(items)
    pending: set[asyncio.Task[R]] = set()
    emitted = 0
    try:
        while True:
            for item in itertools.islice(source, concurrency - len(pending)):
                pending.add(asyncio.create_task(work(item)))
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
