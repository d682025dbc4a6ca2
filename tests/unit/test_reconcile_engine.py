"""``completion_map``: every result handed on as it finishes, bounded concurrency, lazy input, failures."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import pytest

from airflow_provider_transfers.reconcile.engine import completion_map


class Probe:
    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.in_flight = self.max_in_flight = 0
        self.emitted: list[int] = []
        self.batches = 0

    async def work(self, item: int) -> int:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.rng.uniform(0, 0.005))
        self.in_flight -= 1
        if item == -1:
            raise RuntimeError("boom")
        return item * 10

    def emit(self, batch: list[int]) -> None:
        self.batches += 1
        self.emitted.extend(batch)


def test_every_result_is_emitted_once_within_the_concurrency() -> None:
    probe = Probe()
    count = asyncio.run(completion_map(range(500), probe.work, probe.emit, concurrency=8))
    assert count == 500
    assert sorted(probe.emitted) == [i * 10 for i in range(500)]
    assert probe.max_in_flight == 8


def test_a_slow_item_does_not_hold_back_the_results_after_it() -> None:
    """What a kill would lose: results finished behind a slow item must already be emitted."""
    release = asyncio.Event()
    emitted: list[int] = []

    async def work(item: int) -> int:
        if item == 0:
            await release.wait()
        else:
            await asyncio.sleep(0)
        return item

    def emit(batch: list[int]) -> None:
        emitted.extend(batch)
        if len(emitted) == 99:
            assert 0 not in emitted  # all the others are out while item 0 still runs
            release.set()

    asyncio.run(completion_map(range(100), work, emit, concurrency=10))
    assert emitted[-1] == 0 and sorted(emitted) == list(range(100))


def test_items_are_pulled_lazily() -> None:
    pulled: list[int] = []

    def source() -> Iterator[int]:
        for i in range(1000):
            pulled.append(i)
            yield i

    async def main() -> None:
        async def work(item: int) -> int:
            await asyncio.sleep(0)
            if item == 30:
                raise RuntimeError("stop here")
            return item

        await completion_map(source(), work, lambda batch: None, concurrency=4)

    with pytest.raises(RuntimeError, match="stop here"):
        asyncio.run(main())
    assert len(pulled) < 40


def test_a_failure_cancels_the_rest_and_keeps_what_was_emitted() -> None:
    probe = Probe(seed=3)
    items = [*range(50), -1, *range(51, 200)]
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(completion_map(items, probe.work, probe.emit, concurrency=5))
    assert len(set(probe.emitted)) == len(probe.emitted) and set(probe.emitted) <= {i * 10 for i in range(55)}


def test_a_failing_input_stops_the_run_after_emitting_what_finished() -> None:
    def source() -> Iterator[int]:
        yield from range(20)
        raise ValueError("the input changed")

    probe = Probe()
    with pytest.raises(ValueError, match="the input changed"):
        asyncio.run(completion_map(source(), probe.work, probe.emit, concurrency=4))
    assert set(probe.emitted) <= {i * 10 for i in range(20)} and len(probe.emitted) >= 16
