"""The input a report describes: records truncated, rewritten or emptied mid-run fail the run before any
commit, naming the first differing record; an empty input does not replace a report with rows.

Through ``TransferReconciliationOperator`` against the sandbox over real HTTP. "During the second pass"
changes the local file while rows are being checked; "between the passes" changes an object-storage file
exactly when the second pass opens it.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_transfers.operators.reconcile import TransferAuditOperator, TransferReconciliationOperator
from airflow_provider_transfers.reconcile.fingerprint import EmptyInputError, InputChangedError
from tests.unit.reconcile_processes import FAST_POLICY, assert_exact_report, saved_rows, seed_records, wait_until

COUNT = 400
Change = Callable[[list[bytes]], bytes]


def truncate_mid_record_201(lines: list[bytes]) -> bytes:
    return b"".join(lines[:200]) + lines[200][: len(lines[200]) // 2]


def reorder(lines: list[bytes]) -> bytes:
    shuffled = list(lines)
    random.Random(7).shuffle(shuffled)
    return b"".join(shuffled)


def empty(lines: list[bytes]) -> bytes:
    return b""


CHANGES = {"truncated": truncate_mid_record_201, "reordered": reorder, "emptied": empty}


@pytest.fixture
def sandbox(transfer_sandbox: Any, connection_env: Callable[[dict[str, str]], None]) -> Any:
    transfer_sandbox.control.configure(rate_limit=False, latency_ms=30)
    connection_env(transfer_sandbox.connection_env())
    return transfer_sandbox


def _operator(records: str, report: Path, **kwargs: Any) -> TransferReconciliationOperator:
    return TransferReconciliationOperator(
        task_id="reconcile",
        conn_id="twilio_flex_default",
        records=records,
        output_path=str(report),
        max_concurrency=10,
        rate_limit=0,
        http_policy=FAST_POLICY,
        **kwargs,
    )


def _execute(operator: TransferReconciliationOperator) -> dict[str, Any]:
    from unittest import mock

    summary: dict[str, Any] = operator.execute({"outlet_events": mock.MagicMock()})  # type: ignore[arg-type]
    return summary


def _previous_report(sandbox: Any, tmp_path: Path) -> tuple[Path, Path, list[tuple[str, str]], dict[str, bytes]]:
    """A committed report of the records, and the bytes of it and its manifest (which must survive)."""
    records, expected = seed_records(sandbox, tmp_path, COUNT)
    report = tmp_path / "report.jsonl"
    _execute(_operator(str(records), report))
    kept = {p.name: p.read_bytes() for p in (report, report.with_name("report.jsonl.manifest.json"))}
    return records, report, expected, kept


def _intact(report: Path, kept: dict[str, bytes]) -> None:
    assert {p.name: p.read_bytes() for p in (report, report.with_name("report.jsonl.manifest.json"))} == kept
    assert not report.with_name("report.jsonl.commit").exists()


@pytest.mark.parametrize(
    ("change", "on_invalid"),
    [("truncated", "fail"), ("truncated", "report"), ("reordered", "fail"), ("emptied", "report")],
)
def test_records_changed_during_the_second_pass_fail_the_run_and_keep_the_report(
    sandbox: Any, tmp_path: Path, change: str, on_invalid: str
) -> None:
    records, report, expected, kept = _previous_report(sandbox, tmp_path)
    original = records.read_bytes()
    lines = original.splitlines(keepends=True)

    def rewrite_while_checking() -> None:
        wait_until(lambda: saved_rows(report) >= 20, 60, "20 rows checked")
        with open(records, "r+b") as fh:  # in place, as an export job rewriting its file does
            fh.truncate(0)
            fh.write(CHANGES[change](lines))

    writer = threading.Thread(target=rewrite_while_checking)
    writer.start()
    with pytest.raises(InputChangedError) as caught:
        _execute(_operator(str(records), report, on_invalid=on_invalid))
    writer.join()
    message = str(caught.value)
    assert message.startswith(f"The records in {records} changed while this run read them: ")
    if change == "truncated":
        assert "record 201 (line 201) is not what the first pass read there" in message
    else:  # where the reader's buffer ended decides which record it sees first: one is named
        assert re.search(
            r"record \d+ \(line \d+\) is not what|it now ends after \d+ record\(s\), but the first", message
        )
    assert "Nothing was committed and the previous report, if any, is intact" in message
    _intact(report, kept)

    records.write_bytes(original)  # the export is complete again: a rerun resumes and commits it whole
    summary = _execute(_operator(str(records), report, on_invalid=on_invalid))
    assert summary["resumed"] >= 20
    assert_exact_report(report, expected)


class ChangedOnSecondOpen(MemoryFileSystem):
    """An object store whose records file is rewritten when it is opened the second time (the second pass)."""

    cachable = False

    def __init__(self, change: Change) -> None:
        super().__init__()
        self.change = change
        self.opens = 0

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if path.endswith("records.jsonl") and "r" in mode:
            self.opens += 1
            if self.opens == 2:
                lines = self.cat_file(path).splitlines(keepends=True)
                self.pipe_file(path, self.change(lines))
        return super()._open(path, mode, **kwargs)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Change], ChangedOnSecondOpen]]:
    from airflow.sdk.io import fs as airflow_fs
    from airflow.sdk.io import store as airflow_store

    made: list[ChangedOnSecondOpen] = []

    def install(change: Change) -> ChangedOnSecondOpen:
        fs = ChangedOnSecondOpen(change)
        fs.store.clear()
        monkeypatch.setitem(airflow_fs._register_filesystems(), "memory", lambda conn_id, options=None: fs)
        airflow_store._STORE_CACHE.pop("memory", None)  # Airflow keeps the first store it attached
        made.append(fs)
        return fs

    yield install
    for fs in made:
        fs.store.clear()
    airflow_store._STORE_CACHE.pop("memory", None)


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ("truncated", "record 201 (line 201) is not what the first pass read there"),
        ("reordered", "record 1 (line 1) is not what the first pass read there"),
        ("emptied", "it now ends after 0 record(s), but the first pass read 400"),
    ],
)
def test_records_changed_between_the_passes_fail_the_run_naming_the_first_difference(
    sandbox: Any, tmp_path: Path, store: Callable[[Change], ChangedOnSecondOpen], change: str, found: str
) -> None:
    records, report, _, kept = _previous_report(sandbox, tmp_path)
    fs = store(CHANGES[change])
    fs.pipe_file("/in/records.jsonl", records.read_bytes())
    with pytest.raises(InputChangedError) as caught:
        _execute(_operator("memory://in/records.jsonl", report, on_invalid="report"))

    assert found in str(caught.value) and fs.opens == 2
    _intact(report, kept)


def test_an_empty_input_does_not_replace_a_report_with_rows_unless_allowed(sandbox: Any, tmp_path: Path) -> None:
    _, report, _, kept = _previous_report(sandbox, tmp_path)
    nothing = tmp_path / "nothing.jsonl"
    nothing.write_text("\n")  # a blank line is no record
    with pytest.raises(EmptyInputError) as caught:
        _execute(_operator(str(nothing), report))
    assert str(caught.value) == (
        f"{nothing} holds no records, and report {report} already has rows: an empty input does not replace a "
        "report unless allowed. If the input is really empty, pass allow_empty=True; otherwise rerun once it is "
        "written (a retry reads it again)."
    )
    _intact(report, kept)

    summary = _execute(_operator(str(nothing), report, allow_empty=True))
    assert summary["total"] == 0 and report.read_bytes() == b""
    audited = TransferAuditOperator(task_id="audit", report_path=str(report), expected_total=0).execute({})  # type: ignore[arg-type]
    assert audited["total"] == 0 and audited["integrity"]["total_from"] == "expected_total"
    manifest = json.loads(report.with_name("report.jsonl.manifest.json").read_text())
    assert manifest["committed"]["rows"] == 0 and manifest["input"]["records"] == 0


def test_an_empty_input_may_write_a_first_report_or_replace_an_empty_one(sandbox: Any, tmp_path: Path) -> None:
    nothing = tmp_path / "nothing.csv"
    nothing.write_text("interaction_sid,channel_sid,sid,recorded_status\n")  # a header, no record
    report = tmp_path / "report.csv"
    assert _execute(_operator(str(nothing), report))["total"] == 0
    assert report.read_text().startswith("row,platform,")
    assert _execute(_operator(str(nothing), report))["total"] == 0  # a header-only report has no rows to lose
