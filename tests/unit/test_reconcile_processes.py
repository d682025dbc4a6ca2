"""Reconciliations as separate OS processes over real HTTP on loopback, as workers run them.

Two runs on one report in every start ordering (together, the second mid-run, after the first committed,
after the first was SIGKILLed), and SIGKILL at seeded random points with the share of checks redone
printed (``pytest -s``). Every committed report must hold each record's row once, in order, no foreign row.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.unit.reconcile_processes import Child, assert_exact_report, saved_rows, seed_records, wait_until

pytestmark = pytest.mark.processes


@pytest.fixture
def env(transfer_sandbox: Any) -> dict[str, str]:
    transfer_sandbox.control.configure(rate_limit=False, latency_ms=20)
    result: dict[str, str] = transfer_sandbox.connection_env()
    return result


def _args(records: Path, report: Path, **extra: Any) -> dict[str, Any]:
    return {"records": str(records), "output_path": str(report), **extra}


def _holder_named(message: str, child: Child) -> None:
    assert "ReportLocked" not in message  # the message speaks for itself, not through a class name
    assert f"run 'run-{child.name}'" in message and f"PID {child.pid}" in message, message
    assert "dag 'nightly', task 'reconcile'" in message and "try 1" in message and "since " in message
    assert "lock_timeout" in message


def test_two_runs_started_together_one_commits_and_the_other_is_refused_or_waits(
    transfer_sandbox: Any, env: dict[str, str], tmp_path: Path
) -> None:
    """Two pairs of runs, each pair released at the same instant on its own report: without
    ``lock_timeout`` one commits and the other is refused naming it; with it, they commit one after the other."""
    records, expected = seed_records(transfer_sandbox, tmp_path, 300)
    refused_report, waiting_report, go = tmp_path / "refused.jsonl", tmp_path / "waiting.jsonl", tmp_path / "go"
    racing = [Child(tmp_path, n, env, _args(records, refused_report, max_concurrency=10), wait_for=go) for n in "ab"]
    patient = _args(records, waiting_report, max_concurrency=10, lock_timeout="5m")
    waiting = [Child(tmp_path, n, env, patient, wait_for=go) for n in "cd"]
    for child in racing + waiting:
        child.start()
    for child in racing + waiting:
        child.wait_ready()
    go.touch()

    outcomes = [child.outcome() for child in racing]
    winners = [c for c, o in zip(racing, outcomes, strict=True) if "summary" in o]
    refused = [o for o in outcomes if "error" in o]
    assert len(winners) == 1 and len(refused) == 1, outcomes
    assert refused[0]["error"] == "ReportLockedError"
    _holder_named(refused[0]["message"], winners[0])
    assert_exact_report(refused_report, expected)

    summaries = [child.outcome()["summary"] for child in waiting]
    assert [s["total"] for s in summaries] == [300, 300]
    assert [s["resumed"] for s in summaries] == [0, 0]  # the second started after the first's commit
    assert any("waiting up to 300s" in child.log.read_text() for child in waiting)
    assert_exact_report(waiting_report, expected)
    manifest = json.loads(waiting_report.with_name("waiting.jsonl.manifest.json").read_text())
    assert manifest["committed"]["rows"] == 300 and manifest["pending"] is None


def test_a_run_started_mid_run_is_refused_and_one_started_after_the_commit_rewrites_the_report(
    transfer_sandbox: Any, env: dict[str, str], tmp_path: Path
) -> None:
    records, expected = seed_records(transfer_sandbox, tmp_path, 600)
    report, mid, after = tmp_path / "report.jsonl", tmp_path / "go-mid", tmp_path / "go-after"
    first = Child(tmp_path, "first", env, _args(records, report, max_concurrency=4), wait_for=tmp_path / "go")
    second = Child(tmp_path, "second", env, _args(records, report), wait_for=mid)
    third = Child(tmp_path, "third", env, _args(records, report, max_concurrency=10), wait_for=after)
    for child in (first, second, third):
        child.start()
    for child in (first, second, third):
        child.wait_ready()
    (tmp_path / "go").touch()
    wait_until(lambda: saved_rows(report) >= 50, 120, "the first run's rows")
    mid.touch()
    refused = second.outcome()
    assert first.process is not None and first.process.poll() is None, "the first run had to be still running"
    assert refused["error"] == "ReportLockedError"
    _holder_named(refused["message"], first)

    assert first.outcome()["summary"]["total"] == 600
    assert_exact_report(report, expected)
    committed = report.read_bytes()
    after.touch()
    summary = third.outcome()["summary"]
    assert summary["total"] == 600 and summary["resumed"] == 0
    assert report.read_bytes() != committed  # rewritten (new checked_at), not appended to
    assert_exact_report(report, expected)
    manifest = json.loads(report.with_name("report.jsonl.manifest.json").read_text())
    assert manifest["run"]["run_id"] == "run-third" and manifest["run"]["pid"] == third.pid


@pytest.mark.parametrize("seed", [2026])
def test_sigkill_at_random_points_redoes_at_most_two_percent(
    transfer_sandbox: Any, env: dict[str, str], tmp_path: Path, seed: int
) -> None:
    """3,000 records at max_concurrency 50; killed while locking (before any check), then at 4 random
    points; each run takes over from the killed one and resumes. A kill may redo only the checks whose
    answer arrived but whose row had not reached the checkpoint (``redone``) and re-sends the requests
    then in flight (``re-sent``): each at most 2 % of the checks."""
    count, rng = 3000, random.Random(seed)
    records, expected = seed_records(transfer_sandbox, tmp_path, count)
    report = tmp_path / "report.jsonl"
    args = _args(records, report, max_concurrency=50)
    marks = sorted(rng.uniform(0.05, 0.95) for _ in range(4))
    stats = transfer_sandbox.control.stats

    def requests() -> int:
        return int(stats()["platforms"].get("twilio_flex", {}).get("total", 0))

    def start(number: int) -> Child:
        return Child(tmp_path, f"run-{number}", env, args, wait_for=tmp_path / f"go-{number}", check_log=True).start()

    lines = [f"SIGKILL at random points (seed {seed}): {count} records, max_concurrency 50"]
    previous: Child | None = None
    following = start(0)
    for number, mark in enumerate([0.0, *marks, None]):
        child = following
        child.wait_ready()
        if mark is not None:
            following = start(number + 1)  # imports while this one runs; waits for its go file
        before_rows, before_requests = saved_rows(report), requests()
        (tmp_path / f"go-{number}").touch()
        if mark is None:
            summary = child.outcome()["summary"]
            assert summary["resumed"] == before_rows and summary["total"] == count
            log = child.log.read_text()  # took over from the killed run, naming it
            assert previous is not None and f"PID {previous.pid}" in log and "ended without releasing" in log
            lines.append(f"  final run: resumed {before_rows} rows, checked {len(child.checks_done())}")
            break
        if mark == 0.0:  # as soon as it holds the report: before any check
            wait_until(report.with_name("report.jsonl.lock").exists, 60, "the lock")
        else:
            wait_until(lambda m=mark: saved_rows(report) >= m * count, 300, f"{mark:.0%} of the rows")
            time.sleep(rng.uniform(0, 0.05))
        child.kill()
        saved = saved_rows(report) - before_rows
        answered = len(child.checks_done())
        redone, resent = answered - saved, requests() - before_requests - saved
        lines.append(
            f"  kill {number} at {mark:4.0%}: {saved:4d} rows saved, {answered:4d} answers received; redone "
            f"{redone} ({redone / count:.2%}), re-sent {resent} ({resent / count:.2%})"
        )
        assert 0 <= redone <= 0.02 * count and resent <= 0.02 * count, lines[-1]
        previous = child
    print("\n".join(lines))
    assert_exact_report(report, expected)
