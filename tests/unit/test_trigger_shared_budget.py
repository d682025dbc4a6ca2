"""Two triggerer processes, one account, one Redis: every wait checked at the account's pace.

Real processes (spawned, each with its own event loop and its own ``TransferStatusTrigger``s, as two
triggerers would run them), a real ``redis-server`` and the sandbox in a child process with Twilio's
limit on. One process holds 24 waits, the other 8; the account allows 16 requests/s, so with the
shared demand tally each wait is checked about every (24 + 8) / 16 = 2 s in either process. Without
it each process would get whatever the shared window happened to grant it, about half: the 8 waits
every 1 s and the 24 every 3 s (``test_poll_budget.py`` shows that contrast on a virtual clock).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_transfers.sandbox import SandboxConfig, SandboxProcess
from airflow_provider_transfers.sandbox.credentials import twilio_connection
from tests.redis_server import MISSING, RedisServer, redis_server_path

RATE = 16
WAITS = {"many": 24, "few": 8}
RUN_S = 14.0


def _triggerer(
    env: dict[str, str], transfers: list[dict[str, Any]], log: str, out: Any, start: Any, run_s: float
) -> None:
    """One triggerer process: a trigger per transfer until the deadline; report check times and its log.

    It reports ``"ready"`` once imported, then takes its start time from ``start`` (a queue).
    """
    import os

    with open(log, "wb") as sink:  # the task log as Airflow writes it (structlog, to stdout/stderr)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
    os.environ.update(env)
    from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
    from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

    checks: dict[str, list[float]] = {}
    original = TwilioFlexHook.acheck_ref

    async def acheck_ref(self: TwilioFlexHook, ref: Any) -> Any:
        checks.setdefault(ref.transfer_id, []).append(time.monotonic())
        return await original(self, ref)

    TwilioFlexHook.acheck_ref = acheck_ref  # type: ignore[method-assign]

    out.put("ready")
    start_at = start.get(timeout=300)

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.time() + run_s
        triggers = [
            TransferStatusTrigger(conn_id="twilio_flex_default", transfers=t, poll_interval=0.5, deadline=deadline)
            for t in transfers
        ]
        await asyncio.gather(*(anext(t.run()) for t in triggers))

    asyncio.run(main())
    out.put({"checks": checks})


@pytest.fixture
def redis_url() -> Iterator[str]:
    if redis_server_path() is None:
        pytest.skip(MISSING)
    with RedisServer() as server:
        yield server.url


def _result(queue: Any, proc: Any) -> Any:
    """The process's report; a crashed process fails the test at once, not after a timeout."""
    give_up = time.time() + 120
    while time.time() < give_up:
        try:
            return queue.get(timeout=0.5)
        except Exception:
            if not proc.is_alive():
                raise AssertionError(f"triggerer process exited with code {proc.exitcode}") from None
    raise AssertionError("triggerer process gave no report in 120 s")


def run_triggerers(
    env: dict[str, str],
    shares: dict[str, list[dict[str, Any]]],
    folder: Path,
    run_s: float = RUN_S,
    at_start: Callable[[float], Any] | None = None,
) -> dict[str, Any]:
    """One spawned triggerer process per share, started together once every one has imported Airflow (which takes
    long on a busy machine); ``at_start(start_at)`` runs then. Their reports by name; each logs to ``folder/name``."""
    ctx = multiprocessing.get_context("spawn")
    queues = {name: ctx.Queue() for name in shares}
    starts = {name: ctx.Queue() for name in shares}
    procs = {
        name: ctx.Process(target=_triggerer, args=(env, share, str(folder / name), queues[name], starts[name], run_s))
        for name, share in shares.items()
    }
    for proc in procs.values():
        proc.start()
    after = None
    try:
        for name in procs:
            assert _result(queues[name], procs[name]) == "ready"
        start_at = time.time() + 1.0
        for start in starts.values():
            start.put(start_at)
        after = at_start(start_at) if at_start is not None else None
        return {name: _result(queues[name], procs[name]) for name in procs}
    finally:
        for proc in procs.values():
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
        if isinstance(after, threading.Thread):
            after.join()


def _gaps(checks: dict[str, list[float]]) -> list[float]:
    """Gaps between checks of one wait, leaving out each wait's first (the start's stampede)."""
    return [b - a for times in checks.values() for a, b in itertools.pairwise(times[1:])]


@pytest.mark.processes
def test_two_triggerers_share_the_accounts_rate_by_their_waits(redis_url: str, tmp_path: Path) -> None:
    config = SandboxConfig(seed=3, twilio_rate=RATE, twilio_burst=RATE)
    with SandboxProcess(config) as sandbox:
        fields = twilio_connection(sandbox.url, sandbox.credentials)
        fields["extra"] = {**fields["extra"], "rate_limit": RATE, "rate_burst": RATE, "rate_limit_backend": redis_url}
        env = {**sandbox.environ(), "AIRFLOW_CONN_TWILIO_FLEX_DEFAULT": json.dumps(fields)}
        seeded = sandbox.control.seed("twilio_flex", sum(WAITS.values()), transfer_type="cold", outcome="completed",
                                      delay_s=3600)  # fmt: skip
        shares = {"many": seeded[: WAITS["many"]], "few": seeded[WAITS["many"] :]}
        results = run_triggerers(env, shares, tmp_path)
        stats = sandbox.control.stats()["platforms"]["twilio_flex"]
    expected = sum(WAITS.values()) / RATE  # 2 s: the account's waits over the account's rate
    many = statistics.median(_gaps(results["many"]["checks"]))
    few = statistics.median(_gaps(results["few"]["checks"]))
    assert len(results["few"]["checks"]) == WAITS["few"] and len(results["many"]["checks"]) == WAITS["many"]
    # each process paced by its waits' share: the same interval for both (alone, 1 s against 3 s)
    assert 0.75 < few / many < 1.33, (few, many)
    assert 0.8 * expected < many < 1.3 * expected, many
    assert stats.get("rate_limited", 0) == 0
    # the task log states the account's interval, not the one either process would get alone
    stated = [line for line in (tmp_path / "few").read_text().splitlines() if "checked about every" in line]
    assert any("32 request(s) per round" in line and "about every 2.0 s" in line for line in stated), stated
