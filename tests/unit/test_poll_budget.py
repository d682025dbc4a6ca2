"""PollBudget: round-robin turns drawn from the connection's bucket, on a virtual clock (no real sleeping,
no timing asserts)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import defaultdict

import pytest

from airflow_provider_transfers.http.ratelimit import SHARED_BURST, TokenBucket, share_among
from airflow_provider_transfers.triggers.budget import PollBudget


class VirtualTime:
    """A virtual clock for the event loop: sleepers wake in order of their wake time, and time jumps to the next
    wake-up once every runnable task has run (concurrent sleeps overlap, as real ones do)."""

    SETTLE = 50
    """Loop iterations given to runnable tasks before time moves on (chains of wake-ups settle in far fewer)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._ticker: asyncio.Task[None] | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), future))
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick())
        await future

    async def _tick(self) -> None:
        while self._sleepers:
            for _ in range(self.SETTLE):
                await asyncio.sleep(0)
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            if not future.done():
                future.set_result(None)


def budget_of(vt: VirtualTime, rate: float, burst: int = 1) -> PollBudget:
    """A budget drawing from a (non-adaptive) bucket of ``rate``/``burst`` on the virtual clock."""
    return PollBudget(TokenBucket(rate, burst, vt.clock, asleep=vt.sleep), clock=vt.clock)


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
    budget = budget_of(vt, rate)
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
    budget = budget_of(vt, 5.0, burst=1)
    log: list = []
    await asyncio.gather(*(_wait_loop(budget, vt, f"w{i}", 0.0, 10, log) for i in range(7)))
    times = sorted(t for _, t in log)
    for i in range(len(times) - 5):
        assert times[i + 5] - times[i] >= 1.0 - 1e-9  # at most 5 grants in any second (burst 1)


async def test_dearer_checks_pay_their_cost() -> None:
    vt = VirtualTime()
    budget = budget_of(vt, 4.0)
    for _ in range(9):
        await budget.turn(vt.now, cost=2)
    assert vt.now == pytest.approx(8 * 2 / 4.0)


async def test_no_limit_grants_at_once_in_order_of_last_check() -> None:
    budget = PollBudget(None)
    order: list[int] = []

    async def one(last: float) -> None:
        await budget.turn(last)
        order.append(int(last))

    await asyncio.gather(*(one(x) for x in (5, 1, 3)))
    assert sorted(order) == [1, 3, 5] and budget.granted == 3


async def test_cancelled_waiter_does_not_consume_a_turn() -> None:
    vt = VirtualTime()
    budget = budget_of(vt, 1.0)
    await budget.turn(0)  # spends the burst
    waiter = asyncio.ensure_future(budget.turn(1))
    await asyncio.sleep(0)
    waiter.cancel()
    await budget.turn(2)
    assert budget.granted == 2


def test_effective_interval_is_set_by_the_budget_when_demand_exceeds_it() -> None:
    rate = 20.0
    budget = PollBudget(TokenBucket(rate, 20))
    for i in range(1000):
        budget.members[i] = 1.0
    assert budget.effective_interval(10.0) == pytest.approx(50.0)
    assert PollBudget(TokenBucket(rate, 20)).effective_interval(10.0) == 10.0
    budget.members["attended"] = 2
    assert budget.account_demand == 1002


# ---------------------------------------------------------------------------- several processes, one account


class Board:
    """What Redis keeps for a ``SharedBucket``: each process's last published demand ``(members, queued)``."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, float]] = {}


class BoardBucket(TokenBucket):
    """A bucket sharing an account through the board, as a ``SharedBucket`` shares it through Redis: it paces
    at its share (``share_among``, the formula the Redis-backed bucket uses) and then draws from ``limit``,
    the account's window (what Redis enforces)."""

    def __init__(self, vt: VirtualTime, rate: float, burst: int, board: Board, name: str, limit: SharedLimit | None):
        super().__init__(rate, burst, vt.clock, asleep=vt.sleep)
        self.board, self.name, self.limit = board, name, limit

    async def atally(self, members: float, queued: float) -> list[tuple[float, float]]:
        self.board.entries[self.name] = (members, queued)
        others = [d for n, d in self.board.entries.items() if n != self.name]
        self.share = share_among(members, queued, others)
        return others

    async def aacquire(self, cost: float = 1.0) -> None:
        await super().aacquire(cost)
        if self.limit is not None:
            await self.limit.acquire()


class SharedLimit:
    """The account's limit every process draws from (what the Redis window enforces)."""

    def __init__(self, vt: VirtualTime, rate: float) -> None:
        self.vt, self.rate, self.next_free, self.grants = vt, rate, 0.0, 0

    async def acquire(self) -> None:
        at = max(self.vt.now, self.next_free)
        self.next_free = at + 1 / self.rate
        self.grants += 1
        if at > self.vt.now:
            await self.vt.sleep(at - self.vt.now)


async def _process(budget: PollBudget, vt: VirtualTime, name: str, n: int, log: list) -> None:
    async def wait(i: int) -> None:
        budget.members[name, i] = 1.0
        last = -1e9
        for _ in range(8):
            await budget.turn(last)
            last = vt.now
            log.append((f"{name}{i}", vt.now, budget.share))

    await asyncio.gather(*(wait(i) for i in range(n)))


async def test_processes_sharing_a_limit_check_every_wait_at_the_accounts_pace() -> None:
    """30 waits in one process, 10 in another, one limit of 4/s: every wait about every 40/4 s."""
    vt, board = VirtualTime(), Board()
    limit = SharedLimit(vt, 4.0)
    log: list = []
    budgets = {name: PollBudget(BoardBucket(vt, 4.0, 4, board, name, limit), clock=vt.clock) for name in ("a", "b")}
    await asyncio.gather(_process(budgets["a"], vt, "a", 30, log), _process(budgets["b"], vt, "b", 10, log))
    gaps = _gaps([(name, t) for name, t, _ in log])
    steady = [g for gs in gaps.values() for g in gs[2:]]  # after the first rounds settle
    assert max(steady) <= 1.1 * 40 / 4.0, max(steady)
    shares = sorted(share for name, t, share in log if name.startswith("a") and 20 < t < 60)
    assert shares[len(shares) // 2] == pytest.approx(0.75, abs=0.05)  # 30 of the account's 40 waits
    assert budgets["a"].account_demand == pytest.approx(budgets["b"].account_demand)


async def test_without_the_tally_the_smaller_process_takes_more_than_its_share() -> None:
    """The same two processes pacing alone (local buckets): the 10 waits are checked far more often than the 30."""
    vt = VirtualTime()
    limit = SharedLimit(vt, 4.0)
    log: list = []

    class Alone(TokenBucket):
        async def aacquire(self, cost: float = 1.0) -> None:
            await super().aacquire(cost)
            await limit.acquire()

    budgets = [PollBudget(Alone(4.0, 4, vt.clock, asleep=vt.sleep), clock=vt.clock) for _ in range(2)]
    await asyncio.gather(_process(budgets[0], vt, "a", 30, log), _process(budgets[1], vt, "b", 10, log))
    gaps = _gaps([(name, t) for name, t, _ in log])
    a = max(max(g[2:]) for name, g in gaps.items() if name.startswith("a"))
    b = max(max(g[2:]) for name, g in gaps.items() if name.startswith("b"))
    assert a >= 1.15 * 40 / 4.0 and b <= 0.6 * 40 / 4.0, (a, b)


async def test_an_idle_process_leaves_the_whole_rate_to_the_busy_one() -> None:
    vt, board = VirtualTime(), Board()
    board.entries["idle"] = (500, 0)  # many waits, none due now
    budget = PollBudget(BoardBucket(vt, 10.0, int(SHARED_BURST), board, "busy", None), clock=vt.clock)
    budget.members["w"] = 1
    for _ in range(21):
        await budget.turn(vt.now)
    assert budget.share == 1.0
    assert vt.now == pytest.approx((21 - SHARED_BURST) / 10.0)  # the whole 10/s
    assert budget.effective_interval(1.0) == pytest.approx(501 / 10.0)  # the account's demand, stated


async def test_a_busy_peer_halves_the_pace_and_the_drained_queue_is_published() -> None:
    vt, board = VirtualTime(), Board()
    board.entries["peer"] = (1, 1)
    budget = PollBudget(BoardBucket(vt, 10.0, 10, board, "me", None), clock=vt.clock)
    budget.members["w"] = 1.0
    await asyncio.gather(*(budget.turn(0.0) for _ in range(21)))
    assert budget.share == pytest.approx(0.5)
    # the turns in hand at once (at most SHARED_BURST while sharing), the rest at half of 10/s
    assert vt.now == pytest.approx((21 - SHARED_BURST) / (10.0 * 0.5))
    assert board.entries["me"][1] == 0  # said when the queue drained, so the peer takes it all
    await budget.aclose()
    assert board.entries["me"] == (0, 0)


class SlowBucket(TokenBucket):
    """A bucket whose tally and acquire take a moment (a Redis round trip), so the queue changes meanwhile."""

    async def atally(self, members: float, queued: float) -> list[tuple[float, float]]:
        await asyncio.sleep(0.05)
        return []

    async def aacquire(self, cost: float = 1.0) -> None:
        await asyncio.sleep(0.05)


async def test_an_older_check_arriving_during_a_tally_is_granted_and_none_is_lost() -> None:
    """A trigger starting while the budget talks to Redis queues a check older than the head the budget read:
    every check is still granted, exactly once (a lost turn would leave its wait without checks for good)."""
    budget = PollBudget(SlowBucket(1000.0, 10))
    granted: list[str] = []

    async def check(name: str, last: float) -> None:
        await budget.turn(last)
        granted.append(name)

    newer = asyncio.ensure_future(check("newer", 10.0))
    await asyncio.sleep(0.01)
    older = asyncio.ensure_future(check("older", 1.0))
    async with asyncio.timeout(5):
        await asyncio.gather(newer, older)
    assert sorted(granted) == ["newer", "older"] and budget.granted == 2


async def test_a_check_cancelled_during_a_tally_does_not_stop_the_others() -> None:
    budget = PollBudget(SlowBucket(1000.0, 10))
    first = asyncio.ensure_future(budget.turn(1.0))
    second = asyncio.ensure_future(budget.turn(2.0))
    await asyncio.sleep(0.01)
    first.cancel()  # while the dispatcher awaits the tally for it
    async with asyncio.timeout(5):
        await second
    assert first.cancelled() and budget.granted == 1
