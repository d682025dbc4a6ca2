"""A VoIPbin reconciliation with 429s that slowing down cannot cure (injected at random), against a fault-free one.

The sandbox process enforces VoIPbin's real limit (16.7 req/s, burst 33) and answers a share of requests 429 at
random (``faults={"429": share}``, with ``Retry-After: 1``): a noisy neighbour, a flaky gateway. A 429 that comes
from our own pace goes away when we slow down; these do not. Both runs use the provider's defaults (the adaptive
limit, retries). Prints each run's elapsed time and rows/s, what the adaptive bucket ended with (the noise it
measured, its rate, its decreases), the error rows that chance alone explains (a row fails when all its
``max_attempts`` attempts are refused: ``share ** max_attempts`` each), and the ratio; target: the faulty run at
most 3x the fault-free one (it was 15-30x while every injected 429 cut the rate and paused the whole bucket).

    python -m benchmarks.injected_429 [--records 300] [--share 0.3]
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7, help="the sandbox's random seed (which requests get a 429)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="injected-429-"))
    with SandboxProcess(SandboxConfig(seed=args.seed, voipbin_rate=16.7, voipbin_burst=33)) as sandbox:
        transfers = sandbox.control.seed("voipbin", args.records, transfer_type="blind", outcome="completed", delay_s=0)
        records = folder / "records.jsonl"
        records.write_text(
            "".join(json.dumps({"transfer": t, "recorded_status": "completed"}) + "\n" for t in transfers)
        )
        results = {}
        for share in (0.0, args.share):
            elapsed, summary, requests, state = run(sandbox, records, folder / f"report-{share}.jsonl", share)
            results[share] = elapsed
            print(
                f"429 share {share:.0%}: {summary['total']} rows in {elapsed:6.1f}s ({summary['total'] / elapsed:5.1f}"
                f" rows/s), {requests} requests; in_sync {summary['in_sync']}, error {summary['error']}; {state}"
            )
    ratio = results[args.share] / results[0.0]
    ok = ratio <= TARGET
    verdict = "PASS" if ok else "FAIL"
    print(f"slow-down with {args.share:.0%} injected 429s: {ratio:.2f}x (target <= {TARGET:g}x): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
