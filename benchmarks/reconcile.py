"""Reconciliation benchmark against the sandbox (run in a child process, so client and server do not
share a GIL on a small machine). Prints a table of targets with PASS/FAIL; exits 1 on any FAIL.

(a) goodput: rows checked per second over the whole run (elapsed includes reading and validating the
    input and writing the report) as a fraction of the rate limit, at 20, 100 and 500 req/s, 50 ms
    latency, the client's rate limit and burst set to the server's (burst = rate). Printed too, for a
    stricter view: the rate in the last 40% of the run, and the rows as a share of what the server
    admits in the elapsed time, ``rows / (burst + rate x elapsed)``. With zero lost or misclassified
    rows and at most 1% of requests answered 429;
(b) the same records checked by the loop a user would write with the official ``twilio`` SDK
    (sequential, no retry on 429), against our run at 100 req/s: the speed-up;
(c) 10% injected faults of every kind (429, 500, 502, 503, reset, malformed, slow beyond a short
    client timeout): zero lost rows, and every row's class and status as the sandbox's ground truth.

    python benchmarks/reconcile.py            # full run (about 4-5 minutes)
    python benchmarks/reconcile.py --quick    # smoke run (under a minute)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Connection

from airflow_provider_transfers.hooks.base import TransferHook, hook_for_connection
from airflow_provider_transfers.http.transport import ShardedAsyncTransport
from airflow_provider_transfers.reconcile import ReconcileOptions, RecordReader, reconcile
from airflow_provider_transfers.sandbox import SandboxConfig, SandboxProcess
from airflow_provider_transfers.sandbox.credentials import twilio_connection

PLATFORM = "twilio_flex"
LATENCY_MS = 50.0
OLD = "2026-01-01T00:00:00Z"
FAULT_KINDS = ("429", "500", "502", "503", "reset", "malformed", "slow")
TWILIO_HOST = "https://flex-api.twilio.com"


@dataclass
class Check:
    name: str
    measured: str
    goal: str
    ok: bool


@dataclass
class Dataset:
    records_path: Path
    expected: list[tuple[str, str]]  # (transfer id, expected class) per record, in order
    transfers: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- data


def seed_dataset(sandbox: SandboxProcess, count: int, folder: Path, rng: random.Random) -> Dataset:
    """Terminal and active transfers, recorded with some drift, some stale, 1% not found; shuffled."""
    control = sandbox.control
    n_completed, n_failed = int(count * 0.45), int(count * 0.20)
    n_missing = max(1, count // 100)
    n_active = count - n_completed - n_failed - n_missing
    transfers = control.seed(PLATFORM, n_completed, outcome="completed", delay_s=0)
    transfers += control.seed(PLATFORM, n_failed, outcome="failed", delay_s=0)
    transfers += control.seed(PLATFORM, n_active, delay_s=3600)
    truth = ["completed"] * n_completed + ["failed"] * n_failed + ["active"] * n_active
    for i in range(n_missing):
        transfers.append({**transfers[i], "sid": f"UX{rng.getrandbits(128):032x}"})
        truth.append("missing")
    order = list(range(len(transfers)))
    rng.shuffle(order)
    expected: list[tuple[str, str]] = []
    with (folder / "records.jsonl").open("w") as fh:
        for n, i in enumerate(order):
            transfer, actual = transfers[i], truth[i]
            recorded = "completed" if actual in ("missing", "active") else actual
            record: dict[str, Any] = {"transfer": transfer, "recorded_status": recorded}
            if n % 10 == 3 and actual != "missing":
                record["recorded_status"] = "failed" if actual == "completed" else "completed"
            if actual == "active" and n % 3 == 0:
                record["created_at"] = OLD
            fh.write(json.dumps(record) + "\n")
            expected.append((transfer["sid"], _expected_class(record, actual)))
    return Dataset(folder / "records.jsonl", expected, [transfers[i] for i in order])


def _expected_class(record: dict[str, Any], actual: str) -> str:
    if actual == "missing":
        return "not_found"
    if actual == "active" and "created_at" in record:
        return "stale"
    return "in_sync" if record["recorded_status"] == actual else "drifted"


# --------------------------------------------------------------------------------------------- runs


def provider_hook(sandbox: SandboxProcess, concurrency: int, **policy: Any) -> TransferHook:
    """The hook as ``TransferReconciliationOperator`` builds it (one pool slot per concurrent check)."""
    fields = twilio_connection(sandbox.url, sandbox.credentials)
    fields["extra"] = json.dumps(fields["extra"])
    conn = Connection(conn_id="bench", **fields)
    policy = {**policy, "max_connections": concurrency}
    return hook_for_connection(conn, policy=policy, async_transport=ShardedAsyncTransport(concurrency))


def run_provider(
    hook: TransferHook, data: Dataset, out: Path, concurrency: int
) -> tuple[float, dict[str, Any], list[dict[str, Any]]]:
    async def go() -> dict[str, Any]:
        try:
            options = ReconcileOptions(max_concurrency=concurrency, stale_after=timedelta(hours=1))
            return await reconcile(hook, RecordReader(str(data.records_path)), out, options)
        finally:
            await hook.aclose()

    started = time.perf_counter()
    summary = asyncio.run(go())
    elapsed = time.perf_counter() - started
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return elapsed, summary, rows


TAIL = 0.4


def tail_rate(rows: list[dict[str, Any]]) -> float:
    """Rows per second over the last ``TAIL`` of the run (by ``checked_at``): steady state, the burst spent."""
    times = sorted(datetime.fromisoformat(r["checked_at"]).timestamp() for r in rows)
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    start = times[-1] - TAIL * (times[-1] - times[0])
    tail = [t for t in times if t >= start]
    return (len(tail) - 1) / (tail[-1] - tail[0]) if len(tail) > 1 and tail[-1] > tail[0] else 0.0


def lost_and_wrong(data: Dataset, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Rows missing or out of place, and rows whose class differs from the expected one."""
    got = {(r["row"], r["transfer_id"]): r["class"] for r in rows}
    lost = sum(1 for n, (sid, _) in enumerate(data.expected, start=1) if (n, sid) not in got)
    wrong = sum(1 for n, (sid, cls) in enumerate(data.expected, start=1) if (n, sid) in got and got[(n, sid)] != cls)
    return lost + max(0, len(rows) - len(data.expected)), wrong


def server_counts(sandbox: SandboxProcess) -> tuple[int, int]:
    entry = sandbox.control.stats()["platforms"].get(PLATFORM, {})
    return int(entry.get("total", 0)), int(entry.get("rate_limited", 0))


def sdk_loop(sandbox: SandboxProcess, data: Dataset, limit: int | None) -> tuple[float, int]:
    """What a user writes without this provider: the official SDK, one fetch after the other."""
    from twilio.base.exceptions import TwilioRestException
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    class SandboxHttpClient(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            return super().request(method, url.replace(TWILIO_HOST, sandbox.url), *args, **kwargs)

    # The SDK logs every request at INFO under Airflow's logging set-up; a user's script would not pay that.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    creds = sandbox.credentials
    client = Client(creds.twilio_account_sid, creds.twilio_auth_token, http_client=SandboxHttpClient())
    records = [json.loads(line) for line in data.records_path.read_text().splitlines()][:limit]
    started = time.perf_counter()
    differing = 0
    for record in records:
        t = record["transfer"]
        channel = client.flex_api.v1.interaction(t["interaction_sid"]).channels(t["channel_sid"])
        try:
            status = channel.transfers(t["sid"]).fetch().status
        except TwilioRestException:
            status = None
        differing += status != record["recorded_status"]
    return time.perf_counter() - started, len(records)


# --------------------------------------------------------------------------------------------- scenarios


def goodput_scenario(sandbox: SandboxProcess, data: Dataset, rate: int, folder: Path) -> tuple[list[Check], float]:
    burst = rate  # the sandbox's default shape (burst = one second of rate), client and server alike
    sandbox.control.configure(latency_ms=LATENCY_MS, twilio_rate=rate, twilio_burst=burst, faults={})
    before_total, before_429 = server_counts(sandbox)
    concurrency = max(16, math.ceil(rate * LATENCY_MS / 1000 * 1.6))  # in flight: rate x latency, plus slack
    hook = provider_hook(sandbox, concurrency, rate_limit=rate, rate_burst=burst)
    elapsed, summary, rows = run_provider(hook, data, folder / f"report-{rate}.jsonl", concurrency)
    total, limited = server_counts(sandbox)
    requests, answered_429 = total - before_total, limited - before_429
    throughput = len(rows) / elapsed
    admitted = len(rows) / (burst + rate * elapsed)
    goodput = throughput / rate
    lost, wrong = lost_and_wrong(data, rows)
    share = answered_429 / requests if requests else 0.0
    print(
        f"  (a) {rate:>3} req/s: {len(rows)} rows in {elapsed:6.1f}s = {throughput:6.1f} rows/s overall, "
        f"{tail_rate(rows):6.1f} in the last {TAIL:.0%} of the run; {admitted:.3f} of the {burst} + {rate} x "
        f"{elapsed:.1f}s the server admits; "
        f"{requests} requests, {answered_429} answered 429; classes {_classes(summary)}"
    )
    label = f"@{rate} req/s"
    return [
        Check(f"(a) goodput {label}", f"{goodput:.3f}", ">= 0.95", goodput >= 0.95),
        Check(f"(a) lost / misclassified rows {label}", f"{lost} / {wrong}", "0 / 0", lost == 0 and wrong == 0),
        Check(f"(a) requests answered 429 {label}", f"{share:.2%}", "<= 1%", share <= 0.01),
    ], throughput


def sdk_scenario(sandbox: SandboxProcess, data: Dataset, ours: float, limit: int | None) -> list[Check]:
    sandbox.control.configure(latency_ms=LATENCY_MS, twilio_rate=100, twilio_burst=100, faults={})
    elapsed, checked = sdk_loop(sandbox, data, limit)
    theirs = checked / elapsed
    ratio = ours / theirs
    print(f"  (b) twilio SDK, sequential: {checked} rows in {elapsed:6.1f}s = {theirs:6.1f} rows/s; ours {ours:.1f}")
    return [Check("(b) speed-up vs twilio SDK loop @100 req/s", f"{ratio:.1f}x", ">= 5x", ratio >= 5.0)]


def fault_scenario(sandbox: SandboxProcess, data: Dataset, folder: Path) -> list[Check]:
    faults = {kind: 0.10 / len(FAULT_KINDS) for kind in FAULT_KINDS}
    sandbox.control.configure(latency_ms=LATENCY_MS, twilio_rate=100, twilio_burst=100, faults=faults, slow_delay_s=3.0)
    policy = {"rate_limit": 100, "rate_burst": 100, "timeout": 1.0, "max_attempts": 8}
    hook = provider_hook(sandbox, 48, backoff_initial=0.2, backoff_max=2.0, **policy)
    elapsed, summary, rows = run_provider(hook, data, folder / "report-faults.jsonl", concurrency=48)
    sandbox.control.configure(faults={})
    lost, wrong = lost_and_wrong(data, rows)
    mismatched = 0
    for row in rows:
        if row["class"] == "not_found":
            continue
        truth = sandbox.control.transfer(row["transfer_id"])["status"]
        mismatched += row["actual_status"] != truth
    injected = sandbox.control.stats()["faults"]
    print(
        f"  (c) faults {dict(sorted(injected.items()))}: {len(rows)} rows in {elapsed:.1f}s; "
        f"classes {_classes(summary)}"
    )
    return [
        Check("(c) lost rows under 10% faults", str(lost), "0", lost == 0),
        Check(
            "(c) rows unlike ground truth (class / status)",
            f"{wrong} / {mismatched}",
            "0 / 0",
            wrong == 0 and mismatched == 0,
        ),
    ]


def _classes(summary: dict[str, Any]) -> str:
    keys = ("in_sync", "drifted", "stale", "not_found", "error")
    return " ".join(f"{k}={summary[k]}" for k in keys)


def print_table(checks: list[Check]) -> None:
    widths = [
        max(len("target"), *(len(c.name) for c in checks)),
        max(len("measured"), *(len(c.measured) for c in checks)),
        8,
    ]
    print(f"\n{'target'.ljust(widths[0])}  {'measured'.ljust(widths[1])}  {'goal'.ljust(widths[2])}  result")
    for c in checks:
        print(f"{c.name.ljust(widths[0])}  {c.measured.ljust(widths[1])}  {c.goal.ljust(widths[2])}  "
              f"{'PASS' if c.ok else 'FAIL'}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller smoke run")
    parser.add_argument("--transfers", type=int, default=None, help="transfers per dataset (default 2000)")
    args = parser.parse_args(argv)
    count = args.transfers or (600 if args.quick else 2000)
    rates = (100,) if args.quick else (20, 100, 500)
    rng = random.Random(6)
    checks: list[Check] = []
    throughput: dict[int, float] = {}
    print(f"Reconciliation benchmark: {count} Twilio Flex transfers, {LATENCY_MS:.0f} ms latency")
    with tempfile.TemporaryDirectory() as tmp, SandboxProcess(SandboxConfig(seed=6)) as sandbox:
        folder = Path(tmp)
        data = seed_dataset(sandbox, count, folder, rng)
        for rate in rates:
            found, throughput[rate] = goodput_scenario(sandbox, data, rate, folder)
            checks += found
        checks += sdk_scenario(sandbox, data, throughput[100], 200 if args.quick else None)
        checks += fault_scenario(sandbox, data, folder)
    print_table(checks)
    failed = [c for c in checks if not c.ok]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} targets met" + ("" if not failed else "; FAILED"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
