"""Sharded reconciliation: K slices checked separately, merged back into the single-run report."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_transfers.reconcile import ReconcileOptions, reconcile
from airflow_provider_transfers.reconcile.records import RecordReader
from airflow_provider_transfers.reconcile.shard import (
    ShardError,
    ShardReader,
    check_shard,
    merge_reports,
    shard_output,
)
from tests.unit.reconcile_fakes import Crash, FakeHook, not_found, record, rows_without_time, server_error

TRUTH: dict[str, Any] = {
    f"UX{2:032x}": "failed",
    f"UX{5:032x}": not_found("x"),
    f"UX{7:032x}": server_error("gave up"),
    f"UX{9:032x}": "active",
}


def _records(n: int = 11) -> list[dict[str, Any]]:
    return [record(i, created="2026-03-01T08:00:00Z" if i == 9 else "2026-03-01T11:30:00Z") for i in range(1, n + 1)]


def _run(reader: Any, out: Path, hook: Any = None, concurrency: int = 50) -> dict[str, Any]:
    options = ReconcileOptions(max_concurrency=concurrency)
    return asyncio.run(reconcile(hook or FakeHook(TRUTH), reader, out, options))


def _sharded(tmp_path: Path, shards: int, fmt: str = "jsonl") -> tuple[list[dict[str, Any]], Path]:
    final = tmp_path / f"merged.{fmt}"
    results = []
    for shard in range(shards):
        out = shard_output(final, shard, shards)
        summary = _run(ShardReader(RecordReader(_records()), shard, shards), Path(out))
        results.append({**summary, "shard": shard, "shards": shards})
    return results, final


@pytest.mark.parametrize("shards", [1, 2, 4, 11, 13])
def test_merged_report_and_summary_equal_a_single_run(tmp_path: Path, shards: int) -> None:
    single = tmp_path / "single.jsonl"
    expected = _run(RecordReader(_records()), single)
    results, final = _sharded(tmp_path, shards)
    merged = merge_reports(reversed(results), final)  # any order of results
    assert rows_without_time(final) == rows_without_time(single)
    assert [r["row"] for r in rows_without_time(final)] == list(range(1, 12))
    assert {**merged, "report": "x"} == {**expected, "report": "x"}
    assert merged["report"] == str(final) and not final.with_name(final.name + ".partial").exists()


def test_each_shard_checks_its_own_slice_in_order() -> None:
    reader = ShardReader(RecordReader(_records()), 1, 4)
    assert [(r.number, r.data["transfer"]["sid"]) for r in reader] == [
        (1, f"UX{2:032x}"),
        (2, f"UX{6:032x}"),
        (3, f"UX{10:032x}"),
    ]
    assert "shard 1 of 4: records 2, 6, ..." in reader.describe()
    assert shard_output(Path("/r/report.csv"), 2, 4) == Path("/r/report.shard-2-of-4.csv")
    assert shard_output(Path("/r/report.csv"), 0, 1) == Path("/r/report.csv")


def test_merge_writes_csv_from_jsonl_shards(tmp_path: Path) -> None:
    results, _ = _sharded(tmp_path, 3)
    summary = merge_reports(results, tmp_path / "merged.csv")
    lines = (tmp_path / "merged.csv").read_text().splitlines()
    assert lines[0].startswith("row,platform") and len(lines) == 12 and summary["total"] == 11


def test_a_failed_shard_resumes_and_the_merge_is_unchanged(tmp_path: Path) -> None:
    single = tmp_path / "single.jsonl"
    _run(RecordReader(_records(40)), single)
    final = tmp_path / "merged.jsonl"
    results = []
    for shard in range(4):
        out = Path(shard_output(final, shard, 4))
        reader = ShardReader(RecordReader(_records(40)), shard, 4)
        if shard == 2:
            with pytest.raises(Crash):
                _run(reader, out, FakeHook(TRUTH, crash_after=4), concurrency=1)
            assert not out.exists() and out.with_name(out.name + ".partial").exists()
        summary = _run(reader, out)  # the task's retry
        results.append({**summary, "shard": shard, "shards": 4})
    assert results[2]["resumed"] == 4
    merged = merge_reports(results, final)
    assert rows_without_time(final) == rows_without_time(single)
    assert merged["resumed"] == 4 and merged["total"] == 40


def test_merge_refuses_incomplete_or_foreign_shards(tmp_path: Path) -> None:
    results, final = _sharded(tmp_path, 3)
    with pytest.raises(ShardError, match=r"expected the reports of shards 0..2 once each; got shards \[0, 2\]"):
        merge_reports([results[0], results[2]], final)
    with pytest.raises(ShardError, match="disagree on the number of shards"):
        merge_reports([results[0], {**results[1], "shards": 4}, results[2]], final)
    with pytest.raises(ShardError, match="must be the summary"):
        merge_reports([{"total": 3}], final)
    Path(results[1]["report"]).write_text("")  # a shard report from elsewhere: rows missing
    with pytest.raises(ShardError, match="row 2 is missing"):
        merge_reports(results, final)
    assert not final.exists()


@pytest.mark.parametrize(
    ("shard", "shards", "match"),
    [(4, 4, r"shard must be in 0..3"), (0, 0, "shards must be >= 1"), (1.5, 4, "shard must be a whole number")],
)
def test_shard_arguments_are_checked(shard: Any, shards: Any, match: str) -> None:
    with pytest.raises(ShardError, match=match):
        check_shard(shard, shards)


def test_operator_arguments(tmp_path: Path) -> None:
    from airflow_provider_transfers.operators.reconcile import TransferReconciliationOperator

    with pytest.raises(ValueError, match=r"shard must be in 0\.\.1"):
        TransferReconciliationOperator(task_id="r", conn_id="c", records=[], output_path="/x.jsonl", shard=2, shards=2)
    op = TransferReconciliationOperator(task_id="r", conn_id="c", records=[], output_path="/x.jsonl", shard=1, shards=2)
    assert op.report_asset is None and not op.outlets  # the merge publishes the report
    bad = TransferReconciliationOperator(task_id="b", conn_id="c", records=[], output_path="/x.jsonl")
    bad.max_concurrency = 2.5  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"Invalid max_concurrency: expected a whole number >= 1; got 2\.5"):
        bad._policy()
    assert json.dumps(op.shards) == "2"


def test_merge_refuses_a_shard_report_changed_since_its_commit(tmp_path: Path) -> None:
    results, final = _sharded(tmp_path, 3)
    shard1 = Path(results[1]["report"])
    shard1.write_text(shard1.read_text().replace('"class":"in_sync"', '"class":"drifted"', 1))
    with pytest.raises(ShardError, match=r"shard 1's report .*shard-1-of-3\.jsonl is not the report it committed"):
        merge_reports(results, final)
    shard1.with_name(shard1.name + ".manifest.json").unlink()
    with pytest.raises(ShardError, match=r"shard 1's report .* has no manifest .*: rerun that shard"):
        merge_reports(results, final)
    assert not final.exists() and not final.with_name("merged.jsonl.partial").exists()


def test_merge_refuses_shards_that_read_different_inputs(tmp_path: Path) -> None:
    final = tmp_path / "merged.jsonl"
    results = []
    for shard in range(3):
        records = _records() if shard else [record(i, "failed") for i in range(1, 12)]  # rewritten in between
        summary = _run(ShardReader(RecordReader(records), shard, 3), Path(shard_output(final, shard, 3)))
        results.append({**summary, "shard": shard, "shards": 3})
    with pytest.raises(ShardError, match=r"the shard reports describe different inputs .*shard 0: 11 records, "):
        merge_reports(results, final)
    assert not final.exists()


def test_merge_holds_the_merged_report_and_keeps_it_from_an_empty_input(tmp_path: Path) -> None:
    from airflow_provider_transfers.reconcile.fingerprint import EmptyInputError
    from airflow_provider_transfers.reconcile.lock import Holder, ReportLockedError, hold_report

    results, final = _sharded(tmp_path, 2)
    with hold_report(final, Holder.current(), None), pytest.raises(ReportLockedError):
        merge_reports(results, final)
    assert merge_reports(results, final)["total"] == 11
    kept = final.read_bytes()

    empty = []
    for shard in range(2):
        out = Path(shard_output(tmp_path / "empty" / "merged.jsonl", shard, 2))
        empty.append({**_run(ShardReader(RecordReader([]), shard, 2), out), "shard": shard, "shards": 2})
    with pytest.raises(EmptyInputError, match="the shards' input holds no records"):
        merge_reports(empty, final)
    assert final.read_bytes() == kept
    assert merge_reports(empty, final, allow_empty=True)["total"] == 0 and final.read_bytes() == b""
