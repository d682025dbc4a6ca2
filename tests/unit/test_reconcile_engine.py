"""``ordered_map``: output in input order, bounded concurrency and window, failure propagation."""

from __future__ import annotations

import asyncio
import random

import pytest

from airflow_provider_transfers.reconcile.engine import ordered_map


class Probe:
    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.in_flight = self.max_in_flight = 0
        self.started = 0
        self.emitted: list[int] = []
        self.max_ahead = 0

    async def work(self, item: int) -> int:
        self.started += 1
        self.max_ahead = max(self.max_ahead, self.started - len(self.emitted))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.rng.uniform(0, 0.005))
        self.in_flight -= 1
        if item == -1:
            raise RuntimeError("boom")
        return item * 10

    def emit(self, batch: list[int]) -> None:
        self.emitted.extend(batch)


def test_results_come_out_in_input_order_within_the_bounds() -> None:
    probe = Probe()
    count = asyncio.run(ordered_map(range(500), probe.work, probe.emit, concurrency=8, window=20))
    assert count == 500
    assert probe.emitted == [i * 10 for i in range(500)]
    assert probe.max_in_flight == 8
    assert probe.max_ahead <= 20


def test_items_are_pulled_lazily() -> None:
    pulled: list[int] = []

    def source() -> object:
        for i in range(1000):
            pulled.append(i)
            yield i

    async def main() -> None:
        async def work(item: int) -> int:
            await asyncio.sleep(0)
            if item == 30:
                raise RuntimeError("stop here")
            return item

        await ordered_map(source(), work, lambda batch: None, concurrency=4, window=8)  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match="stop here"):
        asyncio.run(main())
    assert len(pulled) < 50


def test_a_failure_cancels_the_rest_and_keeps_what_was_emitted() -> None:
    probe = Probe(seed=3)
    items = [*range(50), -1, *range(51, 200)]
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(ordered_map(items, probe.work, probe.emit, concurrency=5))
    assert probe.emitted == [i * 10 for i in range(len(probe.emitted))]
    assert len(probe.emitted) <= 50
