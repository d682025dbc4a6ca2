"""``reconcile()``: classification, report formats and locations, atomic commit, resume, memory."""

from __future__ import annotations

import asyncio
import csv
import json
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_transfers.reconcile import REPORT_COLUMNS, InvalidRecordsError, ReconcileOptions, reconcile
from airflow_provider_transfers.reconcile.records import RecordReader
from tests.unit.reconcile_fakes import (
    Crash,
    FakeHook,
    not_found,
    record,
    rows_without_time,
    server_error,
    write_jsonl,
)

SECRET = "sandbox-auth-token-do-not-leak"


def run(hook: Any, reader: RecordReader, output: Any, options: ReconcileOptions | None = None) -> dict[str, Any]:
    return asyncio.run(reconcile(hook, reader, output, options))


def test_every_class_with_its_detail(tmp_path: Path) -> None:
    records = [
        record(1, "completed"),  # in_sync
        record(2, "completed"),  # drifted: actually failed
        record(3, "active", created="2026-03-01T08:00:00Z"),  # stale: active 4 h
        record(4, "active"),  # active 30 min: in_sync
        record(5, "completed"),  # not_found
        record(6, "completed"),  # error
        record(7, "completed", created="2026-03-01T08:00:00Z"),  # stale wins over drifted
    ]
    hook = FakeHook(
        {
            f"UX{2:032x}": "failed",
            f"UX{3:032x}": "active",
            f"UX{4:032x}": "active",
            f"UX{5:032x}": not_found("x"),
            f"UX{6:032x}": server_error(f"gave up; token {SECRET}"),
            f"UX{7:032x}": "active",
        }
    )
    out = tmp_path / "report.jsonl"
    summary = run(hook, RecordReader(records), out, ReconcileOptions(stale_after=timedelta(hours=1)))

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["class"] for r in rows] == ["in_sync", "drifted", "stale", "in_sync", "not_found", "error", "stale"]
    assert [r["actual_status"] for r in rows] == ["completed", "failed", "active", "active", "", "", "active"]
    assert list(rows[0]) == list(REPORT_COLUMNS)
    assert rows[1]["detail"].startswith("recorded completed, platform says failed")
    assert "still active 4h00m after creation (limit 1h00m)" in rows[2]["detail"]
    assert "recorded completed, platform says active" in rows[6]["detail"]
    assert "503" in rows[5]["detail"] and "gave up" in rows[5]["detail"]
    one = f"{1:032x}"
    assert rows[0]["reference"] == {"interaction_sid": f"KD{one}", "channel_sid": f"UO{one}", "sid": f"UX{one}"}
    assert summary == {
        "total": 7,
        "in_sync": 2,
        "drifted": 1,
        "stale": 2,
        "not_found": 1,
        "error": 1,
        "duplicate": 0,
        "report": str(out),
        "actions": {"mode": "off", "planned": 0, "done": 0, "failed": 0},
        "resumed": 0,
    }


def test_error_detail_never_carries_a_secret_of_the_connection(tmp_path: Path) -> None:
    from airflow.sdk import Connection

    from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook

    class LeakyHook(TwilioFlexHook):
        async def acheck_ref(self, ref: Any) -> Any:
            raise RuntimeError(f"boom with {SECRET} inside")

    conn = Connection(conn_id="t", conn_type="twilio_flex", login="AC" + "1" * 32, password=SECRET)
    out = tmp_path / "r.jsonl"
    run(LeakyHook(connection=conn), RecordReader([record(1)]), out)
    text = out.read_text()
    assert "boom with *** inside" in text and SECRET not in text


def test_created_at_of_the_record_overrides_the_transfer_and_none_disables_staleness(tmp_path: Path) -> None:
    old = {**record(1, "active"), "created_at": "2026-02-01T00:00:00Z"}
    hook = FakeHook(default="active")
    out = tmp_path / "r.jsonl"
    run(hook, RecordReader([old, record(2, "active")]), out)
    assert [json.loads(x)["class"] for x in out.read_text().splitlines()] == ["stale", "in_sync"]
    run(hook, RecordReader([old]), out, ReconcileOptions(stale_after=None))
    assert json.loads(out.read_text())["class"] == "in_sync"


def _csv_records(path: Path, n: int) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["interaction_sid", "channel_sid", "sid", "recorded_status", "created_at"])
        for i in range(1, n + 1):
            writer.writerow([f"KD{i:032x}", f"UO{i:032x}", f"UX{i:032x}", "completed", ""])
    return path


@pytest.mark.parametrize("as_object_storage", [False, True])
def test_csv_in_csv_out_local_or_file_object_storage(tmp_path: Path, as_object_storage: bool) -> None:
    src = _csv_records(tmp_path / "in.csv", 4)
    out_path = tmp_path / "out" / "report.csv"
    source: Any = ObjectStoragePath(f"file://{src}") if as_object_storage else str(src)
    output: Any = ObjectStoragePath(f"file://{out_path}") if as_object_storage else out_path
    from airflow_provider_transfers.reconcile.storage import to_location

    hook = FakeHook({f"UX{3:032x}": "failed"})
    summary = run(hook, RecordReader(source), to_location(output))
    with out_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["row"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["class"] for r in rows] == ["in_sync", "in_sync", "drifted", "in_sync"]
    assert json.loads(rows[0]["reference"])["sid"] == f"UX{1:032x}"
    assert summary["drifted"] == 1 and summary["total"] == 4


def test_object_storage_report_is_uploaded_then_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fsspec.implementations.memory import MemoryFileSystem

    from airflow_provider_transfers.reconcile.storage import to_location

    fs = MemoryFileSystem()
    from airflow.sdk.io import fs as airflow_fs

    monkeypatch.setitem(airflow_fs._register_filesystems(), "memory", lambda conn_id, options=None: fs)
    target = to_location("memory://bucket/reports/report.jsonl")
    assert isinstance(target, ObjectStoragePath)
    summary = run(
        FakeHook(), RecordReader([record(1), record(2)]), target, ReconcileOptions(checkpoint_dir=str(tmp_path))
    )
    assert summary["total"] == 2
    assert [json.loads(x)["row"] for x in target.read_text().splitlines()] == [1, 2]
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.jsonl", "report.jsonl.manifest.json"]
    assert list(tmp_path.iterdir()) == []


def test_a_failed_run_leaves_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "report.jsonl"
    out.write_text("previous report\n")
    with pytest.raises(Crash):
        run(FakeHook(crash_after=3), RecordReader([record(i) for i in range(1, 11)]), out)
    assert out.read_text() == "previous report\n"
    assert (tmp_path / "report.jsonl.partial").exists()

    fresh = tmp_path / "fresh.csv"
    with pytest.raises(Crash):
        run(FakeHook(crash_after=0), RecordReader([record(1)]), fresh)
    assert not fresh.exists()


def test_invalid_records_fail_before_any_request_naming_record_and_field(tmp_path: Path) -> None:
    bad = [
        record(1),
        {"transfer": {"sid": "nope"}, "recorded_status": "completed"},
        {**record(3), "recorded_status": "done"},
        ["not", "an", "object"],
        {**record(5), "created_at": "yesterday-ish"},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", bad)
    src.write_text(src.read_text() + "{broken json\n")
    hook = FakeHook()
    with pytest.raises(InvalidRecordsError) as caught:
        run(hook, RecordReader(str(src)), tmp_path / "out.jsonl")
    message = str(caught.value)
    assert hook.calls == 0
    assert "5 invalid record(s)" in message
    assert "record 2 (line 2): Invalid transfer['interaction_sid']" in message
    assert "record 3 (line 3): field 'recorded_status' must be one of active, completed, failed; got 'done'" in message
    assert "record 4 (line 4): expected an object" in message
    assert "record 5 (line 5): field 'created_at' must be an ISO 8601 date-time" in message
    assert "record 6 (line 6): not valid JSON" in message
    assert not (tmp_path / "out.jsonl").exists()


def test_invalid_records_can_be_reported_as_error_rows(tmp_path: Path) -> None:
    records = [record(1), {"transfer": {"sid": "nope"}, "recorded_status": "completed"}, record(3)]
    out = tmp_path / "out.jsonl"
    summary = run(FakeHook(), RecordReader(records), out, ReconcileOptions(on_invalid="report"))
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["class"] for r in rows] == ["in_sync", "error", "in_sync"]
    assert rows[1]["detail"].startswith("invalid record: record 2: Invalid transfer['interaction_sid']")
    assert summary["error"] == 1 and summary["total"] == 3


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path: Path, fmt: str) -> None:
    truth = {f"UX{i:032x}": ("failed" if i % 3 == 0 else "completed") for i in range(1, 201)}
    records = [record(i, "completed") for i in range(1, 201)]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    options = ReconcileOptions(max_concurrency=8)
    clean, resumed = tmp_path / f"clean.{fmt}", tmp_path / f"resumed.{fmt}"
    run(FakeHook(truth, jitter=0.002, seed=1), RecordReader(str(src)), clean, options)

    with pytest.raises(Crash):
        crashing = FakeHook(truth, jitter=0.002, crash_after=120, seed=2)
        run(crashing, RecordReader(str(src)), resumed, options)
    partial = tmp_path / f"resumed.{fmt}.partial"
    written = partial.read_text().splitlines()
    assert 50 < len(written) <= 121 and not resumed.exists()
    with partial.open("a") as fh:
        fh.write('{"row": 999, "half a line')  # as if killed mid-write

    hook = FakeHook(truth, jitter=0.002, seed=3)
    summary = run(hook, RecordReader(str(src)), resumed, options)
    done_before = len(written) - (1 if fmt == "csv" else 0)
    assert summary["resumed"] == done_before and hook.calls == 200 - done_before
    assert summary["total"] == 200 and summary["drifted"] == 66
    assert _rows(clean, fmt) == _rows(resumed, fmt)
    assert not partial.exists() and not (tmp_path / f"resumed.{fmt}.partial.meta").exists()


def _rows(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        return rows_without_time(path)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row.pop("checked_at")
    return rows


def test_a_changed_input_starts_over(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with pytest.raises(Crash):
        run(FakeHook(crash_after=5), RecordReader([record(i) for i in range(1, 21)]), out)
    hook = FakeHook()
    summary = run(hook, RecordReader([record(i) for i in range(2, 22)]), out)
    assert summary["resumed"] == 0 and hook.calls == 20
    assert json.loads(out.read_text().splitlines()[0])["transfer_id"] == f"UX{2:032x}"


def test_rows_are_written_in_input_order_under_concurrency(tmp_path: Path) -> None:
    hook = FakeHook(jitter=0.01, seed=7)
    out = tmp_path / "r.jsonl"
    run(hook, RecordReader([record(i) for i in range(1, 301)]), out, ReconcileOptions(max_concurrency=25))
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["row"] for r in rows] == list(range(1, 301))
    assert [r["transfer_id"] for r in rows] == [f"UX{i:032x}" for i in range(1, 301)]
    assert 10 < hook.max_in_flight <= 25


def _peak_bytes(tmp_path: Path, n: int) -> int:
    src = tmp_path / f"in-{n}.jsonl"
    with src.open("w") as fh:
        for i in range(1, n + 1):
            fh.write(json.dumps(record(i)) + "\n")
    tracemalloc.start()
    try:
        summary = run(
            FakeHook(), RecordReader(str(src)), tmp_path / f"out-{n}.jsonl", ReconcileOptions(max_concurrency=50)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary["total"] == n
    return peak


def test_memory_does_not_grow_with_the_number_of_records(tmp_path: Path) -> None:
    small = _peak_bytes(tmp_path, 1_000)
    large = _peak_bytes(tmp_path, 15_000)
    assert large < 8 * 1024 * 1024, large
    assert large < small * 1.5, (small, large)


def test_twilio_stale_action_without_a_body_is_refused_before_any_request(tmp_path: Path) -> None:
    from airflow_provider_transfers.exceptions import TransferConfigError
    from airflow_provider_transfers.reconcile.actions import ActionMode, StaleAction

    hook = FakeHook()
    options = ReconcileOptions(stale_action=StaleAction(ActionMode.APPLY))
    with pytest.raises(TransferConfigError, match="needs stale_action_body"):
        run(hook, RecordReader([record(1, "active")]), tmp_path / "r.jsonl", options)
    assert hook.calls == 0


@pytest.mark.parametrize("step", ["staging written", "pending manifest written", "renamed", "committed"])
def test_a_crash_anywhere_in_the_commit_leaves_a_valid_report_and_the_rerun_commits_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """Rows finish out of order (jitter); the commit sorts them. Crashing at each of its steps (as a kill
    would) leaves the previous report or the new one, each matching its manifest, and a rerun completes."""
    from airflow_provider_transfers.operators.reconcile import TransferAuditOperator
    from airflow_provider_transfers.reconcile import commit

    out = tmp_path / "r.jsonl"
    records = RecordReader([record(i) for i in range(1, 201)])
    run(FakeHook(), RecordReader([record(i) for i in range(1, 101)]), out)  # the previous report: 100 rows
    real_write, real_move = commit.write_manifest, commit._move
    writes: list[str] = []

    def write_manifest(report: Any, manifest: Any) -> None:
        real_write(report, manifest)
        writes.append("pending" if manifest.pending else "committed")
        if step == f"{writes[-1]} manifest written" or (step == "committed" and writes[-1] == "committed"):
            raise Crash(step)

    def move(staging: Any, output: Any) -> None:
        if step == "staging written":
            raise Crash(step)
        real_move(staging, output)
        if step == "renamed":
            raise Crash(step)

    monkeypatch.setattr(commit, "write_manifest", write_manifest)
    monkeypatch.setattr(commit, "_move", move)
    with pytest.raises(Crash):
        run(FakeHook(jitter=0.002, seed=5), records, out, ReconcileOptions(max_concurrency=20))
    audited = TransferAuditOperator(task_id="audit", report_path=str(out)).execute({})  # type: ignore[arg-type]
    assert audited["total"] == (100 if step in ("staging written", "pending manifest written") else 200)

    monkeypatch.setattr(commit, "write_manifest", real_write)
    monkeypatch.setattr(commit, "_move", real_move)
    hook = FakeHook()
    summary = run(hook, records, out)
    assert summary["resumed"] == 200 and hook.calls == 0  # every row was in the checkpoint still
    assert [r["row"] for r in rows_without_time(out)] == list(range(1, 201))
    assert [r["transfer_id"] for r in rows_without_time(out)] == [f"UX{i:032x}" for i in range(1, 201)]
    assert TransferAuditOperator(task_id="a", report_path=str(out), expected_total=200).execute({})["total"] == 200  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl", "r.jsonl.manifest.json"]
