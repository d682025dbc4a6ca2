"""The provider where users outgrow LocalExecutor: Postgres, two Celery workers, two triggerers, one Redis
(broker and shared rate budget), the wheel installed from ``.venv-cluster``, the sandbox's limits on.

Each scenario is asserted through Airflow's REST API, the triggerers' trigger logs and the sandbox's
ground truth (its control API and request log). They run in this order: the triggerer kill and the
Redis restart leave the cluster to the next test's ``running_cluster``, which restarts what was killed;
the worker kill comes last.
"""

from __future__ import annotations

import itertools
import json
import random
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.deployment import HEALTH_THRESHOLD_S, TRIGGERERS, WORKERS, ClusterDeployment
from tests.cluster.observe import (
    RssSampler,
    TriggerLog,
    figure,
    mapped,
    read_jsonl,
    share_429,
    transfer_checks,
    trigger_gaps,
    trigger_logs,
)
from tests.cluster.sandbox import RecordingSandbox
from tests.harness.processes import wait_for
from tests.harness.runs import WatchedRun, poll, task_log, trigger, wait_finished, wait_until_parsed, xcom
from tests.redis_server import RedisServer

pytestmark = pytest.mark.cluster

VENV_SITE = str(Path(__file__).resolve().parents[2] / ".venv-cluster" / "lib")
TWILIO_RATE = 20.0
"""The account's budget for transfer reads: Twilio's 20 requests/s per endpoint (the sandbox's limit)."""
POKE_INTERVAL = 5.0
"""``cluster_waits``' sensor ``poke_interval``: the triggers' poll interval."""
TASK_STATE = {"completed": "success", "failed": "failed"}
"""The sensor's end for each true outcome (default success/failure statuses)."""


@pytest.fixture(scope="module", autouse=True)
def parsed(cluster: ClusterDeployment) -> None:
    wait_until_parsed(cluster, ["cluster_waits", "cluster_reconcile_sharded", "cluster_reconcile_single"])


# ---------------------------------------------------------------------------------------- helpers


def seed_active(sandbox: RecordingSandbox, count: int) -> list[dict[str, Any]]:
    """``count`` Twilio transfers that stay ``active`` until the test sets their outcome."""
    return list(sandbox.control.seed("twilio_flex", count, transfer_type="warm", delay_s=24 * 3600))


def end_at_random(sandbox: RecordingSandbox, transfers: list[dict[str, Any]], rng: random.Random, low: float,
                  high: float) -> None:  # fmt: skip
    """Each transfer ends ``completed`` (4 in 5) or ``failed``, ``low``..``high`` seconds from now."""
    for transfer in transfers:
        outcome = "completed" if rng.random() < 0.8 else "failed"
        sandbox.control.set_outcome(transfer["sid"], outcome, delay_s=rng.uniform(low, high))


def wait_all_deferred(cluster: ClusterDeployment, run: WatchedRun, count: int, timeout: float) -> None:
    """Until every mapped ``wait`` has deferred (none can end: their transfers are still active)."""

    def deferred() -> bool:
        poll(cluster, run)
        waits = mapped(run, "wait")
        ended = [i for i, ti in waits.items() if ti["state"] in ("success", "failed", "upstream_failed")]
        assert not ended, f"waits {ended} ended while their transfers were active: {[waits[i] for i in ended]}"
        return len(waits) == count and all(ti["state"] == "deferred" for ti in waits.values())

    wait_for(deferred, timeout, lambda: f"not all {count} waits deferred: {dict(run.seen)}", interval=4)


def assert_waits_ended_true(
    cluster: ClusterDeployment, sandbox: RecordingSandbox, run: WatchedRun, transfers: list[dict[str, Any]]
) -> dict[int, TriggerLog]:
    """Every wait ended as its transfer truly did, on its first try, with exactly one fired event.

    Returns the trigger logs by map index."""
    waits = mapped(run, "wait")
    logs = trigger_logs(cluster, run, "wait", cluster.triggerer_jobs())
    wrong, retried, events = [], [], []
    for index, transfer in enumerate(transfers):
        truth = sandbox.control.transfer(transfer["sid"])["status"]
        ti = waits[index]
        if ti["state"] != TASK_STATE.get(truth):
            wrong.append((index, transfer["sid"], truth, ti["state"]))
        if ti["try_number"] != 1:
            retried.append((index, ti["try_number"]))
        fired = logs[index].fired if index in logs else []
        if len(fired) != 1 or f"'status': '{'success' if truth == 'completed' else 'failure'}'" not in str(fired):
            events.append((index, truth, [e.get("result") for e in fired]))
        if ti["state"] == "success":
            assert xcom(cluster, run, "wait", map_index=index)["status"] == "completed"
    assert not wrong, f"{len(wrong)} wait(s) ended unlike the sandbox's truth (index, sid, truth, state): {wrong}"
    assert not retried, f"waits retried instead of resumed: {retried}"
    assert not events, f"waits without exactly one fired event of the right status: {events}"
    return logs


def started_by(logs: dict[int, TriggerLog]) -> dict[int, str]:
    """Map index -> the triggerer (host) that first started its trigger."""
    return {index: log.started[0]["host"] for index, log in logs.items() if log.started}


# ---------------------------------------------------------------------------------------- the wheel


def test_the_cluster_runs_the_built_wheel_not_the_checkout(cluster: ClusterDeployment) -> None:
    probe = (
        "import json, airflow_provider_transfers as p, importlib.metadata as m; "
        "print(json.dumps([p.__file__, m.distribution('airflow-provider-transfers').read_text('direct_url.json')]))"
    )
    done = subprocess.run([cluster.python, "-c", probe], env=cluster.env, cwd=cluster.cwd, capture_output=True,
                          text=True, check=True)  # fmt: skip
    where, origin = json.loads(done.stdout)
    assert where.startswith(VENV_SITE) and "/site-packages/" in where, where
    url = json.loads(origin)
    assert url["url"].startswith("file://") and url["url"].endswith(".whl"), url
    assert not url.get("dir_info", {}).get("editable"), url


# ---------------------------------------------------------------------------------------- 1. fan-out


def test_two_hundred_deferred_waits_end_true_once_each_over_both_triggerers_without_a_429(
    running_cluster: ClusterDeployment, sandbox: RecordingSandbox
) -> None:
    cluster, count = running_cluster, 200
    transfers = seed_active(sandbox, count)
    sids = {t["sid"] for t in transfers}
    began = time.time()
    with RssSampler({key: cluster.components[key] for key in TRIGGERERS}) as rss:
        run = trigger(cluster, "cluster_waits", {"transfers": transfers})
        wait_all_deferred(cluster, run, count, timeout=600)
        deferred_in = time.time() - began
        end_at_random(sandbox, transfers, random.Random(1), 5.0, 60.0)
        wait_finished(cluster, run, timeout=600, interval=4)  # listing 200 task instances costs the api-server
    elapsed = time.time() - began

    origin = xcom(cluster, run, "provider_origin")
    assert origin["file"].startswith(VENV_SITE) and "site-packages" in origin["file"], origin
    logs = assert_waits_ended_true(cluster, sandbox, run, transfers)
    spread = sorted(started_by(logs).values())
    by_host = {host: spread.count(host) for host in TRIGGERERS}
    assert len(spread) == count and all(by_host.values()), f"triggers per triggerer: {by_host}"

    requests = sandbox.requests(since=began)
    refused, total = share_429(requests)
    assert refused == 0, f"{refused} of {total} requests answered 429 with the Redis-shared budget"
    checks = transfer_checks(requests, sids)
    assert set(checks) == sids, "every transfer was checked"
    gaps = trigger_gaps(checks, TWILIO_RATE, POKE_INTERVAL)
    worst, gap, n = gaps.worst
    holder = {transfers[i]["sid"]: host for i, host in started_by(logs).items()}
    medians = {
        host: statistics.median(b.t - a.t for sid, c in checks.items() if holder[sid] == host
                                for a, b in itertools.pairwise(c[1:]))
        for host in TRIGGERERS
    }  # fmt: skip
    figure(
        f"1. fan-out: {count} mapped deferrable waits, all deferred {deferred_in:.0f} s after the trigger, "
        f"run done in {elapsed:.0f} s; triggers per triggerer {by_host}; {refused} of {total} requests answered "
        f"429; checks per transfer {statistics.mean(len(c) for c in checks.values()):.1f}; largest gap between "
        f"two checks {gap:.1f} s = {worst:.2f} x max(N/{TWILIO_RATE:g}, {POKE_INTERVAL:g} s) at N = {n} "
        f"(p99 {gaps.p99:.2f}); median gap per triggerer "
        + ", ".join(f"{host} {median:.1f} s" for host, median in medians.items())
        + "; peak RSS per triggerer "
        + ", ".join(f"{key} {mb:.0f} MB" for key, mb in rss.peak_mb.items())
    )


# ---------------------------------------------------------------------------------------- 2. triggerer HA


def test_a_killed_triggerers_waits_are_adopted_and_end_true_first_try_once_each(
    running_cluster: ClusterDeployment, sandbox: RecordingSandbox
) -> None:
    cluster, count = running_cluster, 30
    transfers = seed_active(sandbox, count)
    run = trigger(cluster, "cluster_waits", {"transfers": transfers})
    wait_all_deferred(cluster, run, count, timeout=300)
    hosts = cluster.triggerer_jobs()
    wait_for(
        lambda: len(started_by(trigger_logs(cluster, run, "wait", hosts))) == count,
        120,
        lambda: f"not every trigger started: {started_by(trigger_logs(cluster, run, 'wait', hosts))}",
    )
    holders = started_by(trigger_logs(cluster, run, "wait", hosts))
    victim = max(TRIGGERERS, key=lambda host: list(holders.values()).count(host))
    survivor = next(host for host in TRIGGERERS if host != victim)
    orphaned = sorted(i for i, host in holders.items() if host == victim)
    assert not any(log.fired for log in trigger_logs(cluster, run, "wait", hosts).values()), "a wait ended too soon"

    cluster.components[victim].kill()
    killed_at = time.time()
    end_at_random(sandbox, transfers, random.Random(2), 3.0, 30.0)
    wait_finished(cluster, run, timeout=300, interval=2)

    logs = assert_waits_ended_true(cluster, sandbox, run, transfers)
    adopted_at = []
    for index in orphaned:
        restarts = [e for e in logs[index].started if e["host"] == survivor]
        assert restarts, f"wait {index}'s trigger was never started by {survivor}: {logs[index].events}"
        adopted_at.append(_epoch(restarts[0]["timestamp"]) - killed_at)
    late = [(i, e["host"]) for i, log in logs.items() for e in log.fired if e["host"] != survivor]
    assert not late, f"events fired by the killed triggerer after its kill: {late}"
    figure(
        f"2. triggerer kill: {count} waits deferred, {victim} (holding {len(orphaned)}) SIGKILLed; {survivor} "
        f"started them {min(adopted_at):.1f}-{max(adopted_at):.1f} s later (health threshold {HEALTH_THRESHOLD_S} s); "
        f"{count} of {count} ended as the sandbox says, first try, one fired event each"
    )


def _epoch(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp).timestamp()


# ---------------------------------------------------------------------------------------- records


def write_records(sandbox: RecordingSandbox, path: Path, count: int, rng: random.Random) -> dict[str, str]:
    """``count`` Twilio transfers, settled now (completed, failed) or staying active, recorded in a JSON
    Lines file with one record in ten recorded wrongly. Returns the true status by SID."""
    truth: dict[str, str] = {}
    records = []
    for _ in range(count):
        outcome = rng.choice(["completed", "completed", "completed", "failed", None])
        transfer = sandbox.control.seed(
            "twilio_flex", 1, transfer_type="cold", outcome=outcome, delay_s=0 if outcome else 24 * 3600
        )[0]
        status = outcome or "active"
        truth[transfer["sid"]] = status
        recorded = rng.choice(["completed", "failed", "active"]) if rng.random() < 0.1 else status
        records.append({"transfer": transfer, "recorded_status": recorded})
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return truth


def assert_report_true(rows: list[dict[str, Any]], records: Path, truth: dict[str, str]) -> None:
    """One row per record, in input order, each with the sandbox's true status."""
    expected = [r["transfer"]["sid"] for r in read_jsonl(records)]
    assert [row["transfer_id"] for row in rows] == expected, "rows lost, duplicated or out of order"
    assert [row["row"] for row in rows] == list(range(1, len(expected) + 1))
    wrong = [(row["row"], row["actual_status"], truth[row["transfer_id"]]) for row in rows
             if row["actual_status"] != truth[row["transfer_id"]]]  # fmt: skip
    assert not wrong, f"rows unlike the sandbox's truth (row, actual, truth): {wrong[:10]}"


def without_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "checked_at"} for row in rows]


def run_seconds(run: WatchedRun, task_id: str) -> float:
    """From the first start to the last end of the task's instances (every try)."""
    from datetime import datetime

    tis = [ti for ti in run.task_instances if ti["task_id"] == task_id]
    start = min(datetime.fromisoformat(ti["start_date"]) for ti in tis)
    end = max(datetime.fromisoformat(ti["end_date"]) for ti in tis)
    return (end - start).total_seconds()


# ---------------------------------------------------------------------------------------- 4. Redis restart


def test_redis_restarted_mid_run_waits_and_reconciliation_carry_on_and_lose_nothing(
    running_cluster: ClusterDeployment, sandbox: RecordingSandbox, redis: RedisServer, shared_volume: Path
) -> None:
    cluster, count, rows = running_cluster, 30, 400
    records, report = shared_volume / "redis-restart.jsonl", shared_volume / "reports" / "redis-restart.jsonl"
    truth = write_records(sandbox, records, rows, random.Random(4))
    transfers = seed_active(sandbox, count)
    waits = trigger(cluster, "cluster_waits", {"transfers": transfers})
    wait_all_deferred(cluster, waits, count, timeout=300)
    reconcile = trigger(cluster, "cluster_reconcile_single", {"records_path": str(records), "report_path": str(report)})
    partial = report.with_name(report.name + ".partial")
    wait_for(lambda: partial.exists() and len(partial.read_text().splitlines()) >= 40, 180,
             lambda: f"the reconciliation never got going: {partial}", interval=0.5)  # fmt: skip

    # Outcomes land after Redis is back: a broker that is down when the scheduler hands Celery a task fails
    # that task (Airflow's CeleryExecutor does not wait for the broker).
    end_at_random(sandbox, transfers, random.Random(5), 12.0, 40.0)
    redis.stop()
    stopped_at = time.time()
    time.sleep(5)
    redis.start()
    restarted_at = time.time()
    wait_finished(cluster, reconcile, timeout=300, interval=2)
    wait_finished(cluster, waits, timeout=300, interval=2)

    assert reconcile.state == "success", reconcile.task_instances
    assert reconcile.task_instances[0]["try_number"] == 1
    assert "unreachable" in task_log(cluster, reconcile, "reconcile"), "the outage went unnoticed: no fallback tested"
    assert_report_true(read_jsonl(report), records, truth)
    assert_waits_ended_true(cluster, sandbox, waits, transfers)
    fallback = [r for r in sandbox.requests(since=stopped_at) if r.t <= restarted_at + 30]
    refused, total = share_429(fallback)
    after = [r for r in sandbox.requests(since=restarted_at + 30)]
    figure(
        f"4. Redis restart: down {restarted_at - stopped_at:.1f} s while {count} waits were deferred and a "
        f"{rows}-row reconciliation ran; during the outage and the 30 s local fallback after it {refused} of "
        f"{total} requests ({refused / max(total, 1):.1%}) answered 429, after it {share_429(after)[0]} of "
        f"{len(after)}; 0 rows lost, 0 wrong; {count} of {count} waits true, first try, one event each"
    )


# ---------------------------------------------------------------------------------------- 3. worker kill


def test_a_shard_killed_with_its_worker_resumes_from_its_checkpoint_and_the_merge_equals_one_task(
    running_cluster: ClusterDeployment, sandbox: RecordingSandbox, shared_volume: Path
) -> None:
    cluster, rows = running_cluster, 480
    records = shared_volume / "sharded.jsonl"
    truth = write_records(sandbox, records, rows, random.Random(3))
    single_report = shared_volume / "reports" / "single.jsonl"
    sharded_report = shared_volume / "reports" / "sharded.jsonl"

    single = trigger(cluster, "cluster_reconcile_single",
                     {"records_path": str(records), "report_path": str(single_report)})  # fmt: skip
    wait_finished(cluster, single, timeout=300, interval=2)
    assert single.state == "success", single.task_instances
    single_rows = read_jsonl(single_report)
    assert_report_true(single_rows, records, truth)

    began = time.time()
    sharded = trigger(cluster, "cluster_reconcile_sharded",
                      {"records_path": str(records), "report_path": str(sharded_report)})  # fmt: skip
    partials = {i: sharded_report.with_name(f"sharded.shard-{i}-of-4.jsonl.partial") for i in range(4)}

    def done_rows() -> dict[int, int]:
        return {i: len(p.read_text().splitlines()) if p.exists() else 0 for i, p in partials.items()}

    # Mid-shard: every shard started (each on a worker), the furthest a sixteenth through its records.
    def spread() -> dict[int, str]:
        poll(cluster, sharded)
        return {i: ti["hostname"] for i, ti in mapped(sharded, "reconcile").items() if ti["hostname"]}

    wait_for(lambda: len(spread()) == 4 and max(done_rows().values()) >= rows // 16, 180,
             lambda: f"the shards did not get going: {spread()}, rows {done_rows()}", interval=0.5)  # fmt: skip
    hosts, progress = spread(), done_rows()
    assert set(hosts.values()) == set(WORKERS), f"the shards did not spread over both workers: {hosts}"
    target = max(progress, key=lambda i: progress[i])
    victim = hosts[target]
    killed_shards = sorted(i for i, host in hosts.items() if host == victim)
    at_kill = {i: progress[i] for i in killed_shards}
    assert 0 < at_kill[target] < rows // 4, f"shard {target} is not mid-way: {at_kill}"
    cluster.components[victim].kill()
    wait_finished(cluster, sharded, timeout=400, interval=2)

    assert sharded.state == "success", sharded.task_instances
    shards = mapped(sharded, "reconcile")
    for i in killed_shards:
        assert shards[i]["try_number"] == 2 and shards[i]["hostname"] != victim, shards[i]
        summary = xcom(cluster, sharded, "reconcile", map_index=i)
        if at_kill[i]:
            assert summary["resumed"] > 0, f"shard {i} started over instead of resuming: {summary}"
    merged = read_jsonl(sharded_report)
    assert without_times(merged) == without_times(single_rows), "the merged report differs from one task's"
    merged_summary, single_summary = xcom(cluster, sharded, "merge"), xcom(cluster, single, "reconcile")
    for key in ("total", "in_sync", "drifted", "stale", "not_found", "error", "duplicate"):
        assert merged_summary[key] == single_summary[key], (key, merged_summary, single_summary)
    stray = [p for w in WORKERS for p in (cluster.home / "hosts" / w / "tmp").rglob("*.partial*")]
    assert not stray, f"checkpoints outside the shared volume: {stray}"

    sids = set(truth)
    checked = transfer_checks(sandbox.requests(since=began), sids)
    rechecked = sum(len(c) for c in checked.values()) - rows
    resumed = sum(xcom(cluster, sharded, "reconcile", map_index=i)["resumed"] for i in killed_shards)
    figure(
        f"3. worker kill: {rows} records, one task {rows / run_seconds(single, 'reconcile'):.1f} rows/s on a "
        f"{TWILIO_RATE:g} req/s account; 4 shards over {sorted(set(hosts.values()))}, {victim} SIGKILLed with "
        f"shard(s) {killed_shards} at {at_kill} rows; retried on the other worker, {resumed} row(s) resumed from "
        f"the checkpoint, {rechecked} re-checked; sharded run {time.time() - began:.0f} s; merged report = one "
        "task's: 0 rows lost, 0 duplicated"
    )
