"""Benchmark: 1,000 transfers waited on concurrently by ``TransferStatusTrigger`` in one event loop.

Like a triggerer holding 1,000 deferred sensors: one trigger per transfer (600 Twilio Flex, 200 VoIPbin
blind, 200 VoIPbin attended, consulting 1 s between answer and hang-up), all in one asyncio loop,
against the sandbox in a child process on loopback. Transfers finish (90 % completed, 10 % failed) in
waves over ``--spread`` seconds. Measured:

* requests per transfer per poll, counted server-side (``/_sandbox/stats``) and divided by the polls
  the triggers made (target <= 1; <= 2 for an answered VoIPbin attended transfer);
* peak RSS growth of this process while the triggers run (target <= 150 MB);
* lag from a transfer's completion to its trigger event (target <= poll interval + 1 s). Completion
  times are taken as (time before the seed request + planned delay), which can only overstate lag.

Rate limits: the sandbox's platform limits and the hooks' client-side limiter are both switched off
(the real platforms allow 20 req/s per endpoint on Twilio and 16.7 req/s on VoIPbin, under which one
poll of 1,000 transfers takes about a minute by design). Run: ``python -m benchmarks.triggers``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

import psutil

from airflow_provider_transfers.sandbox import SandboxProcess
from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.triggers.transfer import TransferStatusTrigger

TWILIO_CONN, VOIPBIN_CONN = "twilio_flex_default", "voipbin_default"
POLICY = {"rate_limit": 0}
"""Client-side limiter off (see the module docstring)."""


@dataclass
class Group:
    """Transfers seeded together: same platform, type, outcome and planned completion time."""

    label: str
    platform: str
    conn_id: str
    transfer_type: str
    outcome: str
    delay_s: float
    count: int
    answer_to_done_s: float = 0.0
    transfers: list[dict[str, Any]] = field(default_factory=list)
    completes_at: float = 0.0


@dataclass
class Waiter:
    group: Group
    trigger: TransferStatusTrigger
    status: str = ""
    event_at: float = 0.0


def plan_groups(total: int, spread_s: float) -> list[Group]:
    """600/200/200 of ``total`` split into 10 waves each, finishing between 1.5 s and 1.5 s + spread."""
    shares = [("twilio", "twilio_flex", TWILIO_CONN, "cold", 0.6), ("voipbin blind", "voipbin", VOIPBIN_CONN,
              "blind", 0.2), ("voipbin attended", "voipbin", VOIPBIN_CONN, "attended", 0.2)]  # fmt: skip
    groups = []
    for label, platform, conn_id, kind, share in shares:
        n = round(total * share)
        waves = 10
        for wave in range(waves):
            count = n // waves + (1 if wave < n % waves else 0)
            if not count:
                continue
            outcome = "failed" if wave == waves - 1 else "completed"
            delay = 1.5 + spread_s * wave / (waves - 1)
            groups.append(
                Group(label, platform, conn_id, kind, outcome, delay, count, 1.0 if kind == "attended" else 0.0)
            )
    return groups


def seed(sandbox: SandboxProcess, groups: list[Group]) -> None:
    for group in groups:
        before = time.time()
        group.transfers = sandbox.control.seed(
            group.platform,
            group.count,
            transfer_type=group.transfer_type,
            outcome=group.outcome,
            delay_s=group.delay_s,
            auto_complete_after=group.answer_to_done_s or None,
        )
        # A failed attended transfer is terminal when the groupcall hangs up (no answer, no consult).
        extra = group.answer_to_done_s if group.outcome == "completed" else 0.0
        group.completes_at = before + group.delay_s + extra


class RssSampler:
    def __init__(self) -> None:
        self.process = psutil.Process()
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            await asyncio.sleep(0.05)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


async def wait_all(groups: list[Group], poll_interval: float, deadline_s: float) -> tuple[list[Waiter], RssSampler]:
    sampler = RssSampler()
    stop = asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop))
    deadline = time.time() + deadline_s
    waiters = [
        Waiter(
            group,
            TransferStatusTrigger(
                conn_id=group.conn_id, transfers=t, poll_interval=poll_interval, deadline=deadline, policy=POLICY
            ),
        )
        for group in groups
        for t in group.transfers
    ]

    async def one(waiter: Waiter) -> None:
        event = await anext(waiter.trigger.run())
        waiter.event_at = time.time()
        waiter.status = event.payload["status"]

    await asyncio.gather(*(one(w) for w in waiters))
    stop.set()
    await sampling
    return waiters, sampler


def summarise(
    waiters: list[Waiter], stats: dict[str, Any], sampler: RssSampler, poll_interval: float, elapsed: float
) -> bool:
    platforms = stats["platforms"]
    endpoints_vb = platforms.get("voipbin", {}).get("endpoints", {})

    def checks(pred: Callable[[Waiter], bool]) -> int:
        return sum(w.trigger.state.attempts for w in waiters if pred(w))

    twilio_checks = checks(lambda w: w.group.platform == "twilio_flex")
    voipbin_checks = checks(lambda w: w.group.platform == "voipbin")
    attended_checks = checks(lambda w: w.group.transfer_type == "attended")
    twilio_requests = platforms.get("twilio_flex", {}).get("total", 0)
    groupcall_requests = sum(endpoints_vb.get("GET /v1.0/groupcalls/{id}", {}).values())
    call_requests = sum(endpoints_vb.get("GET /v1.0/calls/{id}", {}).values())
    lags = sorted(w.event_at - w.group.completes_at for w in waiters)
    expected = {
        w.trigger.transfer_ids[0]: ("success" if w.group.outcome == "completed" else "failure") for w in waiters
    }
    wrong = sum(1 for w in waiters if w.status != expected[w.trigger.transfer_ids[0]])

    rows: list[tuple[str, str, str, bool]] = []

    def row(metric: str, value: float, target: float, unit: str = "") -> None:
        rows.append((metric, f"{value:.3f}{unit}", f"<= {target:g}{unit}", value <= target))

    row("Twilio: requests per transfer per poll", twilio_requests / max(twilio_checks, 1), 1)
    groupcall_per_check = groupcall_requests / max(voipbin_checks, 1)
    row("VoIPbin (blind, attended): groupcall requests per transfer per poll", groupcall_per_check, 1)
    # Only attended checks read the transferer call (once the groupcall was answered).
    row(
        "VoIPbin attended: requests per transfer per poll",
        groupcall_per_check + call_requests / max(attended_checks, 1),
        2,
    )
    row("Peak RSS growth", sampler.growth_mb, 150, " MB")
    row("Completion-to-event lag, max", lags[-1], poll_interval + 1, " s")
    rows.append(("Events with the expected status", f"{len(waiters) - wrong}/{len(waiters)}", "all", wrong == 0))

    print()
    print(f"{len(waiters)} triggers (one transfer each) in one event loop; poll interval {poll_interval:g} s;")
    print(f"wall time {elapsed:.1f} s; {twilio_checks + voipbin_checks} status checks, "
          f"{stats['total']} platform requests; rate limits OFF (sandbox and client).")  # fmt: skip
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    p95 = lags[int(0.95 * (len(lags) - 1))]
    print(
        f"lag p50 {statistics.median(lags):.2f} s, p95 {p95:.2f} s, max {lags[-1]:.2f} s; ru_maxrss {maxrss_mb:.0f} MB"
    )
    print()
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'measured':>12}  {'target':>12}  result")
    print(f"{'-' * width}  {'-' * 12}  {'-' * 12}  ------")
    for metric, value, target, ok in rows:
        print(f"{metric:<{width}}  {value:>12}  {target:>12}  {'PASS' if ok else 'FAIL'}")
    passed = all(r[3] for r in rows)
    print(f"\nOVERALL: {'PASS' if passed else 'FAIL'}")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transfers", type=int, default=1000)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--spread", type=float, default=12.0, help="seconds over which transfers finish")
    args = parser.parse_args(argv)

    config = SandboxConfig(rate_limits_enabled=False)
    with SandboxProcess(config) as sandbox:
        os.environ.update(sandbox.environ())
        groups = plan_groups(args.transfers, args.spread)
        seed(sandbox, groups)  # control requests: not in the platform request counts
        started = time.monotonic()
        waiters, sampler = asyncio.run(wait_all(groups, args.poll_interval, deadline_s=args.spread + 60))
        elapsed = time.monotonic() - started
        stats = sandbox.control.stats()
    return 0 if summarise(waiters, stats, sampler, args.poll_interval, elapsed) else 1


if __name__ == "__main__":
    sys.exit(main())
