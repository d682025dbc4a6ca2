"""PollBudget: round-robin turns within a rate, on a virtual clock (no real sleeping, no timing asserts)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict

import pytest

from airflow_provider_transfers.waiting.budget import SHARED_BURST, Demand, PollBudget, Tally


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


# ---------------------------------------------------------------------------- several processes, one account


class Board:
    """What Redis keeps for ``http/shared.py``: each process's last published demand."""

    def __init__(self) -> None:
        self.entries: dict[str, Demand] = {}
        self.calls = 0

    def tally_for(self, name: str) -> Tally:
        async def tally(own: Demand) -> list[Demand]:
            self.calls += 1
            self.entries[name] = own
            return [d for n, d in self.entries.items() if n != name]

        return tally


class SharedLimit:
    """The account's limit every process draws from after its turn (what the Redis window enforces)."""

    def __init__(self, vt: VirtualTime, rate: float) -> None:
        self.vt, self.rate, self.next_free, self.grants = vt, rate, 0.0, 0

    async def acquire(self) -> None:
        at = max(self.vt.now, self.next_free)
        self.next_free = at + 1 / self.rate
        self.grants += 1
        if at > self.vt.now:
            await self.vt.sleep(at - self.vt.now)


async def _process(budget: PollBudget, limit: SharedLimit, vt: VirtualTime, name: str, n: int, log: list) -> None:
    async def wait(i: int) -> None:
        budget.join((name, i))
        last = -1e9
        for _ in range(8):
            await budget.turn(last)
            await limit.acquire()
            last = vt.now
            log.append((f"{name}{i}", vt.now, budget.share))

    await asyncio.gather(*(wait(i) for i in range(n)))


async def test_processes_sharing_a_limit_check_every_wait_at_the_accounts_pace() -> None:
    """30 waits in one process, 10 in another, one limit of 4/s: every wait about every 40/4 s."""
    vt, board = VirtualTime(), Board()
    limit = SharedLimit(vt, 4.0)
    log: list = []
    budgets = {
        name: PollBudget(lambda: 4.0, tally=board.tally_for(name), clock=vt.clock, sleep=vt.sleep)
        for name in ("a", "b")
    }
    await asyncio.gather(
        _process(budgets["a"], limit, vt, "a", 30, log), _process(budgets["b"], limit, vt, "b", 10, log)
    )
    gaps = _gaps([(name, t) for name, t, _ in log])
    steady = [g for gs in gaps.values() for g in gs[2:]]  # after the first rounds settle
    assert max(steady) <= 1.1 * 40 / 4.0, max(steady)
    shares = sorted(share for name, t, share in log if name.startswith("a") and 20 < t < 60)
    assert shares[len(shares) // 2] == pytest.approx(0.75, abs=0.05)  # 30 of the account's 40 waits
    assert budgets["a"].account_demand == pytest.approx(budgets["b"].account_demand)


async def test_without_the_tally_the_smaller_process_takes_more_than_its_share() -> None:
    """The same two processes pacing alone: the 10 waits are checked far more often than the 30."""
    vt = VirtualTime()
    limit = SharedLimit(vt, 4.0)
    log: list = []
    budgets = [PollBudget(lambda: 4.0, clock=vt.clock, sleep=vt.sleep) for _ in range(2)]
    await asyncio.gather(_process(budgets[0], limit, vt, "a", 30, log), _process(budgets[1], limit, vt, "b", 10, log))
    gaps = _gaps([(name, t) for name, t, _ in log])
    a = max(max(g[2:]) for name, g in gaps.items() if name.startswith("a"))
    b = max(max(g[2:]) for name, g in gaps.items() if name.startswith("b"))
    assert a >= 1.15 * 40 / 4.0 and b <= 0.6 * 40 / 4.0, (a, b)


async def test_an_idle_process_leaves_the_whole_rate_to_the_busy_one() -> None:
    vt, board = VirtualTime(), Board()
    board.entries["idle"] = Demand(members=500, queued=0)  # many waits, none due now
    budget = PollBudget(lambda: 10.0, tally=board.tally_for("busy"), clock=vt.clock, sleep=vt.sleep)
    budget.join("w", cost=1)
    for _ in range(21):
        await budget.turn(vt.now)
    assert budget.share == 1.0
    assert vt.now == pytest.approx((21 - SHARED_BURST) / 10.0)  # the whole 10/s
    assert budget.effective_interval(1.0) == pytest.approx(501 / 10.0)  # the account's demand, stated


async def test_a_busy_peer_halves_the_pace_and_the_drained_queue_is_published() -> None:
    vt, board = VirtualTime(), Board()
    board.entries["peer"] = Demand(members=1, queued=1)
    budget = PollBudget(lambda: 10.0, tally=board.tally_for("me"), clock=vt.clock, sleep=vt.sleep)
    budget.join("w")
    await asyncio.gather(*(budget.turn(0.0) for _ in range(21)))
    assert budget.share == pytest.approx(0.5)
    # the turns in hand at once, the rest at half of 10/s
    assert vt.now == pytest.approx((21 - SHARED_BURST) / (10.0 * 0.5))
    assert board.entries["me"].queued == 0  # said when the queue drained, so the peer takes it all
    await budget.aclose()
    assert board.entries["me"] == Demand()
