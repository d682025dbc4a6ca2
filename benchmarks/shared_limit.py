"""Many workers, one account: 4 reconciliation processes against one sandbox account, three rate modes.

Each process checks its own 2,000 Twilio Flex transfers (the dataset of ``benchmarks/reconcile.py``:
completed, failed, active; 10% recorded wrongly, some stale, 1% unknown) through the provider's
reconciliation, all four at once, against the sandbox (child process, 50 ms latency, its rate limit on:
R requests/s per endpoint per account, burst R) at R = 20 and R = 100. Modes, each process configured
with the account's limit R:

* ``static``   -- a per-process token bucket, the rate fixed (``adaptive_rate: false``): before issue 11;
* ``adaptive`` -- the default: AIMD on 429s, no coordination;
* ``shared``   -- ``rate_limit_backend: redis://...``: one window per account and endpoint in Redis
  (a real ``redis-server`` on a free loopback port).

Printed per mode and rate: aggregate goodput (rows checked with an answer, all processes, per second,
over R; the server's initial burst lets it exceed 1.0 slightly), the share of requests answered 429,
rows lost or misclassified against the ground truth, rows ending as ``error``; and the targets with
PASS/FAIL (exit 1 on a FAIL): adaptive goodput >= 0.85 and 429 <= 5 %; shared >= 0.95 and 429 <= 1 %;
0 lost / misclassified / error rows in both. ``static`` is shown for comparison.

    python benchmarks/shared_limit.py            # full: 4 x 2,000 records (about 25 minutes: 400 s per mode at 20/s)
    python benchmarks/shared_limit.py --quick    # 4 x 300 records (about 5 minutes)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # progress lines of 4 processes are noise

from airflow.sdk import Connection

from airflow_provider_transfers.hooks.base import hook_for_connection
from airflow_provider_transfers.http.transport import ShardedAsyncTransport
from airflow_provider_transfers.sandbox import SandboxConfig, SandboxProcess
from airflow_provider_transfers.sandbox.credentials import twilio_connection
from benchmarks.reconcile import LATENCY_MS, Check, Dataset, print_table, run_provider, seed_dataset, server_counts

PROCESSES = 4
MODES = ("static", "adaptive", "shared")
CONCURRENCY = 16
TARGETS = {"adaptive": (0.85, 0.05), "shared": (0.95, 0.01)}


@dataclass
class Outcome:
    mode: str
    rate: int
    elapsed: float
    rows: int
    good: int
    errors: int
    lost: int
    misclassified: int
    requests: int
    answered_429: int

    @property
    def goodput(self) -> float:
        return self.good / self.elapsed / self.rate

    @property
    def share_429(self) -> float:
        return self.answered_429 / self.requests if self.requests else 0.0


# --------------------------------------------------------------------------------------------- worker


def worker(spec: dict[str, Any]) -> None:
    """One process: wait for the common start, reconcile its records, write timings next to the report."""
    # 429s are the subject here: the per-request retry warnings of four processes would drown the table.
    logging.getLogger("airflow_provider_transfers.http.client").setLevel(logging.ERROR)
    conn = Connection(conn_id="bench", **spec["connection"])
    policy = {**spec["policy"], "max_connections": CONCURRENCY}
    hook = hook_for_connection(conn, policy=policy, async_transport=ShardedAsyncTransport(CONCURRENCY))
    time.sleep(max(0.0, spec["start_at"] - time.time()))
    started = time.time()
    _, summary, _ = run_provider(hook, Dataset(Path(spec["records"]), []), Path(spec["report"]), CONCURRENCY)
    Path(spec["result"]).write_text(json.dumps({"started": started, "ended": time.time(), "summary": summary}))


# --------------------------------------------------------------------------------------------- parent


def run_mode(
    sandbox: SandboxProcess, datasets: list[Dataset], folder: Path, mode: str, rate: int, redis_url: str | None
) -> Outcome:
    sandbox.control.configure(latency_ms=LATENCY_MS, twilio_rate=rate, twilio_burst=rate, faults={})
    time.sleep(2.0)  # the server's bucket refills; the shared window empties
    policy: dict[str, Any] = {"rate_limit": rate, "rate_burst": rate}
    if mode == "static":
        policy["adaptive_rate"] = False
    if mode == "shared":
        policy["rate_limit_backend"] = redis_url
    fields = twilio_connection(sandbox.url, sandbox.credentials)
    fields["extra"] = json.dumps(fields["extra"])
    before_total, before_429 = server_counts(sandbox)
    start_at = time.time() + 8.0  # after every child has imported Airflow
    procs: list[subprocess.Popen[bytes]] = []
    results: list[Path] = []
    reports: list[Path] = []
    for i, data in enumerate(datasets):
        tag = f"{mode}-{rate}-{i}"
        results.append(folder / f"result-{tag}.json")
        reports.append(folder / f"report-{tag}.jsonl")
        spec = {
            "connection": fields,
            "policy": policy,
            "records": str(data.records_path),
            "report": str(reports[-1]),
            "result": str(results[-1]),
            "start_at": start_at,
        }
        procs.append(subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(spec)]))
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError(f"a {mode} worker failed with exit code {proc.returncode}")
    total, limited = server_counts(sandbox)
    timings = [json.loads(p.read_text()) for p in results]
    elapsed = max(t["ended"] for t in timings) - min(t["started"] for t in timings)
    rows = errors = lost = wrong = 0
    for data, report in zip(datasets, reports, strict=True):
        got = [json.loads(line) for line in report.read_text().splitlines()]
        rows += len(got)
        errors += sum(1 for r in got if r["class"] == "error")
        by_row = {(r["row"], r["transfer_id"]): r["class"] for r in got}
        for n, (sid, cls) in enumerate(data.expected, start=1):
            found = by_row.get((n, sid))
            if found is None:
                lost += 1
            elif found != cls and found != "error":
                wrong += 1
        lost += max(0, len(got) - len(data.expected))
    return Outcome(
        mode, rate, elapsed, rows, rows - errors, errors, lost, wrong, total - before_total, limited - before_429
    )


def checks_for(outcomes: list[Outcome]) -> list[Check]:
    checks: list[Check] = []
    for o in outcomes:
        if o.mode not in TARGETS:
            continue
        goodput, share = TARGETS[o.mode]
        label = f"{o.mode} @{o.rate} req/s"
        checks += [
            Check(f"{label}: goodput / limit", f"{o.goodput:.3f}", f">= {goodput}", o.goodput >= goodput),
            Check(f"{label}: requests answered 429", f"{o.share_429:.2%}", f"<= {share:.0%}", o.share_429 <= share),
            Check(
                f"{label}: lost / misclassified / error rows",
                f"{o.lost} / {o.misclassified} / {o.errors}",
                "0 / 0 / 0",
                o.lost == 0 and o.misclassified == 0 and o.errors == 0,
            ),
        ]
    return checks


def print_outcomes(outcomes: list[Outcome]) -> None:
    print(f"\n{'mode':<9} {'limit':>6} {'rows':>6} {'elapsed':>8} {'goodput/limit':>14} {'429 share':>10} "
          f"{'lost':>5} {'misclassified':>14} {'error rows':>11}")  # fmt: skip
    for o in outcomes:
        print(f"{o.mode:<9} {o.rate:>4}/s {o.rows:>6} {o.elapsed:>7.1f}s {o.goodput:>14.3f} {o.share_429:>10.2%} "
              f"{o.lost:>5} {o.misclassified:>14} {o.errors:>11}")  # fmt: skip
    by_key = {(o.mode, o.rate): o for o in outcomes}
    for rate in sorted({o.rate for o in outcomes}):
        static = by_key.get(("static", rate))
        if static is None or static.goodput == 0:
            continue
        ratios = ", ".join(
            f"{mode} {by_key[(mode, rate)].goodput / static.goodput:.2f}x"
            for mode in MODES[1:]
            if (mode, rate) in by_key
        )
        print(f"  goodput vs static @{rate}/s: {ratios}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="4 x 300 records instead of 4 x 2,000")
    parser.add_argument("--records", type=int, default=None, help="records per process")
    parser.add_argument("--rates", default="20,100", help="comma-separated limits (requests/s)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    from tests.redis_server import RedisServer

    count = args.records or (300 if args.quick else 2000)
    rates = [int(r) for r in args.rates.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    print(
        f"Shared-limit benchmark: {PROCESSES} processes x {count} Twilio Flex transfers on one account, "
        f"{LATENCY_MS:.0f} ms latency, sandbox limit = client limit"
    )
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxProcess(SandboxConfig(seed=11)) as sandbox,
        RedisServer() as redis,
    ):
        folder = Path(tmp)
        rng = random.Random(11)
        datasets = []
        for i in range(PROCESSES):
            sub = folder / f"p{i}"
            sub.mkdir()
            datasets.append(seed_dataset(sandbox, count, sub, rng))
        for rate in rates:
            for mode in modes:
                outcome = run_mode(sandbox, datasets, folder, mode, rate, redis.url)
                outcomes.append(outcome)
                print(
                    f"  {mode:<8} @{rate:>3}/s: {outcome.rows} rows in {outcome.elapsed:6.1f}s, goodput/limit "
                    f"{outcome.goodput:.3f}, {outcome.requests} requests, {outcome.answered_429} answered 429, "
                    f"{outcome.errors} error rows",
                    flush=True,
                )
    print_outcomes(outcomes)
    checks = checks_for(outcomes)
    if checks:
        print_table(checks)
    failed = [c for c in checks if not c.ok]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} targets met ({time.perf_counter() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
