"""A VoIPbin reconciliation with 429s that slowing down cannot cure (injected at random), against a fault-free one.

The sandbox process enforces VoIPbin's real limit (16.7 req/s, burst 33) and answers a share of requests 429 at
random (``faults={"429": share}``, with ``Retry-After: 1``): a noisy neighbour, a flaky gateway. A 429 that comes
from our own pace goes away when we slow down; these do not. Both runs use the provider's defaults (the adaptive
limit, retries). Prints each run's elapsed time and rows/s, what the adaptive bucket ended with (the noise it
measured, its rate, its decreases), the error rows that chance alone explains (a row fails when all its
``max_attempts`` attempts are refused: ``share ** max_attempts`` each), and the ratio; target: the faulty run at
most 3x the fault-free one on every seed (it was 15-30x while every injected 429 cut the rate and paused the
whole bucket). Which requests the first 429s hit changes the outcome, so one run is judged over several seeds,
each a fresh sandbox; each run starts once the sandbox's bucket refilled (``BURST / RATE`` seconds), as the
first run of a fresh sandbox does.

    python -m benchmarks.injected_429 [--records 300] [--share 0.3] [--seeds 7 1 2 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow.sdk import Connection

from airflow_provider_transfers.hooks.base import hook_for_connection
from airflow_provider_transfers.hooks.voipbin import BUCKET
from airflow_provider_transfers.http.ratelimit import TokenBucket
from airflow_provider_transfers.reconcile import ReconcileOptions, RecordReader, reconcile
from airflow_provider_transfers.sandbox import SandboxConfig, SandboxProcess
from airflow_provider_transfers.sandbox.credentials import voipbin_connection

TARGET = 3.0
RATE, BURST = 16.7, 33


def run(sandbox: SandboxProcess, records: Path, out: Path, share: float) -> tuple[float, dict[str, Any], int, str]:
    sandbox.control.configure(faults={"429": share} if share else {})
    before = sandbox.control.stats()["platforms"].get("voipbin", {}).get("total", 0)
    fields = voipbin_connection(sandbox.url, sandbox.credentials)
    fields["extra"] = json.dumps(fields.get("extra") or {})
    hook = hook_for_connection(Connection(conn_id="bench", **fields))

    async def go() -> dict[str, Any]:
        try:
            return await reconcile(hook, RecordReader(str(records)), out, ReconcileOptions(max_concurrency=16))
        finally:
            await hook.aclose()

    started = time.perf_counter()
    summary = asyncio.run(go())
    elapsed = time.perf_counter() - started
    requests = sandbox.control.stats()["platforms"]["voipbin"]["total"] - before
    bucket = hook.api.limiter.bucket(BUCKET) if hook.api.limiter else None
    assert isinstance(bucket, TokenBucket), "the provider's default: an adaptive local bucket"
    by_chance = summary["total"] * share**hook.api.policy.max_attempts
    state = (
        f"bucket: noise {bucket.noise:.2f}, rate {bucket.current_rate:.1f}/s, {bucket.decreases} decreases; "
        f"error rows expected by chance {by_chance:.2f}"
    )
    return elapsed, summary, requests, state


def one_seed(seed: int, count: int, share: float) -> float:
    """The faulty run's elapsed time over the fault-free one's, with the sandbox's random 429s drawn from ``seed``."""
    folder = Path(tempfile.mkdtemp(prefix="injected-429-"))
    with SandboxProcess(SandboxConfig(seed=seed, voipbin_rate=RATE, voipbin_burst=BURST)) as sandbox:
        transfers = sandbox.control.seed("voipbin", count, transfer_type="blind", outcome="completed", delay_s=0)
        records = folder / "records.jsonl"
        records.write_text(
            "".join(json.dumps({"transfer": t, "recorded_status": "completed"}) + "\n" for t in transfers)
        )
        results = {}
        for run_share in (0.0, share):
            time.sleep(BURST / RATE)  # each run starts at a full platform bucket, not where the last one left it
            elapsed, summary, requests, state = run(sandbox, records, folder / f"report-{run_share}.jsonl", run_share)
            results[run_share] = elapsed
            print(
                f"seed {seed}, 429 share {run_share:.0%}: {summary['total']} rows in {elapsed:6.1f}s "
                f"({summary['total'] / elapsed:5.1f} rows/s), {requests} requests; in_sync {summary['in_sync']}, "
                f"error {summary['error']}; {state}"
            )
    ratio = results[share] / results[0.0]
    print(f"seed {seed}: slow-down with {share:.0%} injected 429s: {ratio:.2f}x")
    return ratio


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--share", type=float, default=0.3)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[7, 1, 2, 3],
        help="the sandbox's random seeds (which requests get a 429); each is one pair of runs",
    )  # fmt: skip
    args = parser.parse_args(argv)
    ratios = [one_seed(seed, args.records, args.share) for seed in args.seeds]
    ok = max(ratios) <= TARGET
    verdict = "PASS" if ok else "FAIL"
    shown = ", ".join(f"{ratio:.2f}x" for ratio in ratios)
    print(f"slow-down with {args.share:.0%} injected 429s, seeds {args.seeds}: {shown}; worst {max(ratios):.2f}x "
          f"(target <= {TARGET:g}x on every seed): {verdict}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
