"""One writer per report: the lock file (local paths) and the lease (object storage), through ``reconcile``.

Real processes are in ``test_reconcile_processes``; here the lock's own rules, deterministic: who is named,
waiting, a dead holder taken over, an expired lease taken over, two takers racing, a lease lost mid-run.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_transfers.reconcile import ReconcileOptions, RecordReader, reconcile
from airflow_provider_transfers.reconcile import lock as lock_module
from airflow_provider_transfers.reconcile.lock import (
    FileLock,
    Holder,
    LeaseLock,
    ReportLockedError,
    ReportLockLostError,
    hold_report,
)
from airflow_provider_transfers.reconcile.storage import to_location
from tests.unit.reconcile_fakes import FakeHook, record

TI = type("TI", (), {"dag_id": "nightly", "task_id": "reconcile", "run_id": "scheduled__2026-03-01", "try_number": 2})


def run(output: Any, options: ReconcileOptions | None = None, hook: Any = None, holder: Holder | None = None) -> Any:
    records = RecordReader([record(i) for i in range(1, 21)])
    return asyncio.run(reconcile(hook or FakeHook(), records, output, options, holder))


def test_a_held_report_refuses_a_second_writer_naming_the_holder(tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    holder = Holder.current(TI())
    with hold_report(report, holder, None):
        lock_file = json.loads((tmp_path / "report.jsonl.lock").read_text())
        assert lock_file["pid"] == os.getpid() and lock_file["run_id"] == "scheduled__2026-03-01"
        hook = FakeHook()
        with pytest.raises(ReportLockedError) as caught:
            run(report, hook=hook)
    message = str(caught.value)
    assert message.startswith(f"Report {report} is being written by another run: dag 'nightly', task 'reconcile', ")
    assert "run 'scheduled__2026-03-01', try 2" in message and f"PID {os.getpid()}, since {holder.since}" in message
    assert "the kernel frees it when its holder dies" in message and "lock_timeout" in message
    assert caught.value.holder == holder and hook.calls == 0
    assert not report.exists() and not (tmp_path / "report.jsonl.lock").exists()  # released, and removed
    assert run(report)["total"] == 20


def test_a_run_waits_up_to_lock_timeout_then_writes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    report = tmp_path / "report.jsonl"
    held = hold_report(report, Holder.current(), None)
    held.__enter__()
    threading.Timer(0.6, held.__exit__, (None, None, None)).start()
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        summary = run(report, ReconcileOptions(lock_timeout=timedelta(seconds=30)))
    assert summary["total"] == 20 and time.monotonic() - started >= 0.5
    assert "waiting up to 30s for it" in caplog.text

    held = hold_report(report, Holder.current(), None)
    held.__enter__()
    try:
        with pytest.raises(ReportLockedError, match=r"after waiting 0\.3s \(lock_timeout\)"):
            run(report, ReconcileOptions(lock_timeout=timedelta(seconds=0.3)))
    finally:
        held.__exit__(None, None, None)


def test_the_lock_of_a_holder_that_died_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    report = tmp_path / "report.jsonl"
    dead = Holder(host="worker-7", pid=4242, since="2026-03-01T01:00:00Z", token="x", dag_id="nightly")
    lock = FileLock.acquire(report, tmp_path / "report.jsonl.lock", dead, 0)
    assert lock.fd is not None
    os.close(lock.fd)  # what the kernel does when the holder dies: the lock goes, the file stays
    with caplog.at_level(logging.WARNING):
        assert run(report)["total"] == 20
    assert "the previous writer (dag 'nightly', host 'worker-7', PID 4242" in caplog.text
    assert "ended without releasing its lock (killed?); taking over" in caplog.text


@pytest.mark.parametrize("left_behind", ["nothing", "a dead predecessor"])
def test_a_run_refused_just_as_the_holder_took_the_lock_names_the_holder(
    tmp_path: Path, left_behind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder records its identity just after its ``flock``: a run refused in between waits a moment
    for it, instead of naming nobody (an empty file) or the dead run the file still names."""
    report, path = tmp_path / "report.jsonl", tmp_path / "report.jsonl.lock"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = Holder(host=Holder.current().host, pid=int(gone.stdout), since="2026-03-01T01:00:00Z", token="x")
    path.write_text(json.dumps(dead.to_dict()) if left_behind != "nothing" else "")
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken, identity not recorded yet
    holder = Holder.current(TI())
    monkeypatch.setattr(lock_module, "IDENTITY_GRACE_S", 5.0)

    def record_identity() -> None:
        time.sleep(0.3)
        identity = json.dumps(holder.to_dict()).encode()
        os.pwrite(fd, identity, 0)
        os.ftruncate(fd, len(identity))

    writer = threading.Thread(target=record_identity)
    writer.start()
    try:
        with pytest.raises(ReportLockedError) as caught:
            FileLock.acquire(report, path, Holder.current(), 0)
    finally:
        writer.join()
        os.close(fd)
    assert caught.value.holder == holder
    assert "run 'scheduled__2026-03-01', try 2" in str(caught.value) and "not recorded" not in str(caught.value)


def test_a_removed_lock_file_is_detected_before_commit(tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    with hold_report(report, Holder.current(), None) as held:
        (tmp_path / "report.jsonl.lock").unlink()  # someone "cleaned up": a second writer could now lock
        with pytest.raises(ReportLockLostError, match="was removed while this run held it"):
            held.verify()


# --------------------------------------------------------------------------------------------- leases


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryFileSystem]:
    """An in-memory object store, and lease timings short enough for tests."""
    from airflow.sdk.io import fs as airflow_fs
    from airflow.sdk.io import store as airflow_store

    fs = MemoryFileSystem()
    fs.store.clear()  # the memory store is shared by every instance: start and end empty
    fs.pseudo_dirs.clear()
    monkeypatch.setitem(airflow_fs._register_filesystems(), "memory", lambda conn_id, options=None: fs)
    airflow_store._STORE_CACHE.pop("memory", None)  # Airflow keeps the first store it attached
    monkeypatch.setattr(lock_module, "LEASE_TTL_S", 1.5)
    monkeypatch.setattr(lock_module, "LEASE_SETTLE_S", 0.1)
    monkeypatch.setattr(lock_module, "LEASE_SKEW_S", 0.2)
    monkeypatch.setattr(lock_module, "POLL_S", 0.05)
    yield fs
    fs.store.clear()
    fs.pseudo_dirs.clear()


def _target(name: str = "report.jsonl") -> ObjectStoragePath:
    target = to_location(f"memory://bucket/reports/{name}")
    assert isinstance(target, ObjectStoragePath)
    return target


def _lease(target: ObjectStoragePath) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((target.parent / (target.name + ".lease")).read_text())
    return data


def test_a_leased_report_refuses_a_second_writer_on_another_host(store: Any, tmp_path: Path) -> None:
    target = _target()
    holder = Holder.current(TI())
    with hold_report(target, holder, None, str(tmp_path / "host-a")):
        assert _lease(target)["token"] == holder.token
        with pytest.raises(ReportLockedError) as caught:  # another host: its own checkpoint_dir
            run(target, ReconcileOptions(checkpoint_dir=str(tmp_path / "host-b")))
    message = str(caught.value)
    assert "dag 'nightly', task 'reconcile', run 'scheduled__2026-03-01', try 2" in message
    assert f"(lock: {target}.lease)" in message and "Its lease expires at " in message
    assert "a run that died is taken over after that" in message
    assert not (target.parent / "report.jsonl.lease").exists()  # released
    assert run(target, ReconcileOptions(checkpoint_dir=str(tmp_path / "host-b")))["total"] == 20


def test_a_lease_is_renewed_while_the_run_goes(store: Any, tmp_path: Path) -> None:
    target = _target()
    with hold_report(target, Holder.current(), None, str(tmp_path)) as held:
        first = _lease(target)["expires_at"]
        time.sleep(1.2)  # past the first expiry's renewal point (every TTL / 3)
        assert _lease(target)["expires_at"] > first
        held.verify()


def test_an_expired_lease_is_taken_over_and_the_run_commits(
    store: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = _target()
    dead = Holder(host="worker-9", pid=77, since="2026-03-01T01:00:00Z", token="dead", run_id="r1")
    lease = target.parent / "report.jsonl.lease"
    lease.parent.mkdir(parents=True, exist_ok=True)
    body = {"holder": dead.to_dict(), "token": "dead", "expires_at": time.time() + 0.3}
    lease.write_text(json.dumps(body))
    with pytest.raises(ReportLockedError, match="run 'r1', host 'worker-9', PID 77"):
        run(target, ReconcileOptions(checkpoint_dir=str(tmp_path)))
    with caplog.at_level(logging.WARNING):
        summary = run(target, ReconcileOptions(checkpoint_dir=str(tmp_path), lock_timeout=timedelta(seconds=10)))
    assert summary["total"] == 20
    assert "the lease of run 'r1', host 'worker-9', PID 77" in caplog.text and "taking over" in caplog.text


def test_two_takers_of_a_free_lease_never_both_win(store: Any) -> None:
    target = _target()

    def take(barrier: threading.Barrier, outcomes: list[str]) -> None:
        barrier.wait()
        try:
            lease = LeaseLock.acquire(target, Holder.current(), 0)
        except ReportLockedError:
            outcomes.append("refused")
            return
        outcomes.append("won")
        time.sleep(0.3)
        lease.release()

    for attempt in range(10):
        outcomes: list[str] = []
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=take, args=(barrier, outcomes)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["refused", "won"], (attempt, outcomes)


def test_a_run_that_lost_its_lease_commits_nothing(store: Any, tmp_path: Path) -> None:
    target = _target()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("previous report\n")
    thief = Holder(host="elsewhere", pid=1, since="2026-03-01T00:00:00Z", token="thief")

    class StealingHook(FakeHook):
        async def acheck_ref(self, ref: Any) -> Any:
            if self.calls == 5:  # another run takes the report over mid-run (this one stalled too long)
                body = {"holder": thief.to_dict(), "token": "thief", "expires_at": time.time() + 60}
                (target.parent / "report.jsonl.lease").write_text(json.dumps(body))
            return await super().acheck_ref(ref)

    with pytest.raises(ReportLockLostError, match=r"host 'elsewhere', PID 1|taken over by another run"):
        run(target, ReconcileOptions(checkpoint_dir=str(tmp_path)), StealingHook())
    assert target.read_text() == "previous report\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.jsonl", "report.jsonl.lease"]
    assert _lease(target)["token"] == "thief"  # the other run's lease is left alone
