"""Helpers of the tests that run reconciliations as separate OS processes against the sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_transfers.operators.reconcile import TransferAuditOperator

ROOT = Path(__file__).resolve().parents[2]
FAST_POLICY = {"backoff_initial": 0.0, "backoff_max": 0.05}


def seed_records(sandbox: Any, folder: Path, count: int) -> tuple[Path, list[tuple[str, str]]]:
    """``count`` Twilio transfers (every 7th failed, recorded completed: drifted); the records file and,
    per record, ``(sid, expected class)``."""
    control = sandbox.control
    failed = control.seed("twilio_flex", count // 7, outcome="failed", delay_s=0)
    transfers = control.seed("twilio_flex", count - len(failed), outcome="completed", delay_s=0) + failed
    failed_sids = {t["sid"] for t in failed}
    order = [transfers[(i * 7919) % count] for i in range(count)]  # interleaved, fixed (7919 is prime)
    expected = [(t["sid"], "drifted" if t["sid"] in failed_sids else "in_sync") for t in order]
    path = folder / "records.jsonl"
    path.write_text("".join(json.dumps({"transfer": t, "recorded_status": "completed"}) + "\n" for t in order))
    return path, expected


class Child:
    """One ``TransferReconciliationOperator.execute`` in a fresh Python process (see ``reconcile_child``)."""

    def __init__(
        self,
        folder: Path,
        name: str,
        env: dict[str, str],
        operator: dict[str, Any],
        *,
        ti: dict[str, Any] | None = None,
        wait_for: Path | None = None,
        check_log: bool = False,
    ) -> None:
        self.name = name
        self.result_path = folder / f"{name}.result.json"
        self.ready = folder / f"{name}.ready"
        self.log = folder / f"{name}.log"
        self.check_log = folder / f"{name}.checks" if check_log else None
        ti = ti or {"dag_id": "nightly", "task_id": "reconcile", "run_id": f"run-{name}", "try_number": 1}
        spec = {
            "env": env,
            "operator": {"conn_id": "twilio_flex_default", "http_policy": FAST_POLICY, "rate_limit": 0, **operator},
            "ti": ti,
            "result": str(self.result_path),
            "ready": str(self.ready),
            "wait_for": str(wait_for) if wait_for else None,
            "check_log": str(self.check_log) if self.check_log else None,
        }
        self.spec = folder / f"{name}.spec.json"
        self.spec.write_text(json.dumps(spec))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.unit.reconcile_child", str(self.spec)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_ready(self, timeout: float = 120) -> None:
        wait_until(self.ready.exists, timeout, f"{self.name} to start")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def outcome(self, timeout: float = 300) -> dict[str, Any]:
        assert self.process is not None
        self.process.wait(timeout=timeout)
        assert self.result_path.exists(), f"{self.name} left no result; its log:\n{self.log.read_text()[-3000:]}"
        result: dict[str, Any] = json.loads(self.result_path.read_text())
        return result

    def checks_done(self) -> list[str]:
        assert self.check_log is not None
        return self.check_log.read_text().split() if self.check_log.exists() else []


def wait_until(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def saved_rows(report: Path) -> int:
    """Rows of the checkpoint a resumed run trusts: those whose digest line reached the disk too."""
    rows = line_count(report.with_name(report.name + ".partial"))
    return min(rows, line_count(report.with_name(report.name + ".partial.digests")))


def assert_exact_report(report: Path, expected: list[tuple[str, str]]) -> None:
    """Rows 1..N once each, in order, each row the transfer and class of its own record; the audit agrees."""
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["row"] for r in rows] == list(range(1, len(expected) + 1))
    assert [(r["transfer_id"], r["class"]) for r in rows] == expected
    summary = TransferAuditOperator(task_id="audit", report_path=str(report), expected_total=len(expected)).execute(
        {}  # type: ignore[arg-type]
    )
    assert summary["total"] == len(expected) and not [c for c in summary["integrity"]["checks"] if c["broken"]]
