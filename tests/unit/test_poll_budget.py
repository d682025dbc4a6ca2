"""PollBudget: round-robin turns within a rate, on a virtual clock (no real sleeping, no timing asserts)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict

import pytest

from airflow_provider_transfers.waiting.budget import PollBudget


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


async def _wait_loop(budget: PollBudget, vt: VirtualTime, name: str, poll: float, rounds: int, log: list) -> None:
    last = -1e9
    for _ in range(rounds):
        due = last + poll
        if due > vt.now:
            await vt.sleep(due - vt.now)
        await budget.turn(last)
        last = vt.now
        log.append((name, vt.now))


def _gaps(log: list) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for name, t in log:
        times[name].append(t)
    return {n: [b - a for a, b in itertools.pairwise(ts)] for n, ts in times.items()}


async def test_tight_budget_serves_waits_round_robin_without_starvation() -> None:
    vt = VirtualTime()
    rate = 2.0
    budget = PollBudget(lambda: rate, clock=vt.clock, sleep=vt.sleep)
    n = 20
    log: list = []
    await asyncio.gather(*(_wait_loop(budget, vt, f"w{i}", 0.5, 6, log) for i in range(n)))
    gaps = _gaps(log)
    assert len(log) == n * 6
    assert all(len(g) == 5 for g in gaps.values())
    worst = max(max(g) for g in gaps.values())
    assert worst <= 1.1 * n / rate, worst
    # within any window of n grants, each wait appears once (round-robin)
    names = [name for name, _ in log]
    for start in range(n, len(names) - n, n):
        assert sorted(names[start : start + n]) == sorted(f"w{i}" for i in range(n))


async def test_grants_never_exceed_the_rate() -> None:
    vt = VirtualTime()
    budget = PollBudget(lambda: 5.0, burst=1, clock=vt.clock, sleep=vt.sleep)
    log: list = []
    await asyncio.gather(*(_wait_loop(budget, vt, f"w{i}", 0.0, 10, log) for i in range(7)))
    times = sorted(t for _, t in log)
    for i in range(len(times) - 5):
        assert times[i + 5] - times[i] >= 1.0 - 1e-9  # at most 5 grants in any second (burst 1)


async def test_dearer_checks_pay_their_cost() -> None:
    vt = VirtualTime()
    budget = PollBudget(lambda: 4.0, clock=vt.clock, sleep=vt.sleep)
    for _ in range(9):
        await budget.turn(vt.now, cost=2)
    assert vt.now == pytest.approx(8 * 2 / 4.0)


async def test_no_limit_grants_at_once_in_order_of_last_check() -> None:
    budget = PollBudget(lambda: None)
    order: list[int] = []

    async def one(last: float) -> None:
        await budget.turn(last)
        order.append(int(last))

    await asyncio.gather(*(one(x) for x in (5, 1, 3)))
    assert sorted(order) == [1, 3, 5] and budget.granted == 3


async def test_cancelled_waiter_does_not_consume_a_turn() -> None:
    vt = VirtualTime()
    budget = PollBudget(lambda: 1.0, clock=vt.clock, sleep=vt.sleep)
    await budget.turn(0)  # spends the burst
    waiter = asyncio.ensure_future(budget.turn(1))
    await asyncio.sleep(0)
    waiter.cancel()
    await budget.turn(2)
    assert budget.granted == 2


def test_effective_interval_is_set_by_the_budget_when_demand_exceeds_it() -> None:
    rate = 20.0
    budget = PollBudget(lambda: rate)
    for i in range(1000):
        budget.join(i)
    assert budget.effective_interval(10.0) == pytest.approx(50.0)
    assert PollBudget(lambda: rate).effective_interval(10.0) == 10.0
    budget.join("attended", cost=2)
    assert budget.demand == 1002
