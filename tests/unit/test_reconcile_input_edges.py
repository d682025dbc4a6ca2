"""Records files and checkpoints that are not what they should be: invalid UTF-8, a BOM, duplicate
transfers, an unreadable or edited checkpoint."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_transfers.reconcile import InvalidRecordsError, ReconcileOptions, reconcile
from airflow_provider_transfers.reconcile.records import RecordReader, RecordsFileError
from tests.unit.reconcile_fakes import Crash, FakeHook, record, twilio_transfer, write_jsonl


def run(hook: Any, reader: RecordReader, output: Path, options: ReconcileOptions | None = None) -> dict[str, Any]:
    return asyncio.run(reconcile(hook, reader, output, options))


def _csv(path: Path, rows: list[int], *, bom: bool = False, bad_row: int | None = None) -> Path:
    lines = [b"interaction_sid,channel_sid,sid,recorded_status,created_at"]
    for i in rows:
        t = twilio_transfer(i)
        cells = f"{t['interaction_sid']},{t['channel_sid']},{t['sid']},completed,{t['date_created']}".encode()
        lines.append(cells.replace(b"completed", b"compl\xe9ted") if i == bad_row else cells)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + b"\r\n".join(lines) + b"\r\n")
    return path


# --------------------------------------------------------------------------------------------- records


def test_invalid_utf8_in_jsonl_names_the_line_and_fails_before_any_request(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [record(1), record(2), record(3)])
    lines = src.read_bytes().splitlines(keepends=True)
    src.write_bytes(lines[0] + b"\n" + lines[1].replace(b"completed", b"compl\xffeted") + lines[2])
    hook = FakeHook()
    with pytest.raises(InvalidRecordsError) as caught:
        run(hook, RecordReader(str(src)), tmp_path / "out.jsonl")
    assert hook.calls == 0
    assert "1 invalid record(s)" in str(caught.value)
    assert "record 2 (line 3): not valid UTF-8 (line 3, byte 0xff at column" in str(caught.value)


def test_invalid_utf8_in_csv_is_an_error_row_when_reporting(tmp_path: Path) -> None:
    src = _csv(tmp_path / "in.csv", [1, 2, 3], bad_row=2)
    out = tmp_path / "out.jsonl"
    summary = run(FakeHook(), RecordReader(str(src)), out, ReconcileOptions(on_invalid="report"))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["class"] for r in rows] == ["in_sync", "error", "in_sync"]
    assert "record 2 (line 3): not valid UTF-8 (line 3, byte 0xe9" in rows[1]["detail"]
    assert summary["error"] == 1


def test_a_csv_header_that_is_not_utf8_fails_naming_the_file(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"interaction_sid,chann\xe9l_sid,sid,recorded_status\n")
    with pytest.raises(RecordsFileError, match=r"in\.csv: the CSV header is not valid UTF-8 \(line 1, byte 0xe9"):
        list(RecordReader(str(src)))


def test_a_utf8_bom_is_stripped(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts with a BOM; it must not end up in the first column's name."""
    src = _csv(tmp_path / "excel.csv", [1, 2], bom=True)
    assert [r.data["interaction_sid"] for r in RecordReader(str(src))] == [f"KD{1:032x}", f"KD{2:032x}"]
    summary = run(FakeHook(), RecordReader(str(src)), tmp_path / "out.csv")
    assert summary["in_sync"] == 2 and summary["error"] == 0
    jsonl = write_jsonl(tmp_path / "bom.jsonl", [record(1)])
    jsonl.write_bytes(b"\xef\xbb\xbf" + jsonl.read_bytes())
    assert [r.data for r in RecordReader(str(jsonl))] == [record(1)]


def test_duplicate_transfers_are_checked_once_and_reported_as_duplicates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upper = record(10)
    upper["transfer"]["sid"] = "UX" + upper["transfer"]["sid"][2:].upper()  # ids compare case-insensitively
    records = [record(1), record(10), record(1, "failed"), record(3), record(1), upper]
    hook = FakeHook()
    out = tmp_path / "out.jsonl"
    with caplog.at_level(logging.WARNING):
        summary = run(hook, RecordReader(records), out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert hook.calls == 3
    assert [r["class"] for r in rows] == ["in_sync", "in_sync", "duplicate", "in_sync", "duplicate", "duplicate"]
    assert rows[2]["detail"] == f"duplicate of row 1 (same transfer UX{1:032x}): checked there, not again"
    assert rows[2]["recorded_status"] == "failed" and rows[2]["actual_status"] == ""
    assert rows[5]["detail"].startswith("duplicate of row 2")
    assert summary["duplicate"] == 3 and summary["total"] == 6
    assert "3 record(s) in the records list repeat a transfer of an earlier record" in caplog.text


# --------------------------------------------------------------------------------------------- checkpoints


def _crashed_run(tmp_path: Path, fmt: str = "jsonl") -> tuple[Path, Path, list[dict[str, Any]]]:
    records = [record(i) for i in range(1, 21)]
    out = tmp_path / f"report.{fmt}"
    with pytest.raises(Crash):
        run(FakeHook(crash_after=10), RecordReader(records), out, ReconcileOptions(max_concurrency=1))
    partial = tmp_path / f"report.{fmt}.partial"
    assert partial.exists() and (tmp_path / f"report.{fmt}.partial.digests").exists()
    return out, partial, records


def test_resume_trusts_rows_whose_digests_match(tmp_path: Path) -> None:
    out, partial, records = _crashed_run(tmp_path)
    done = len(partial.read_text().splitlines())
    hook = FakeHook()
    summary = run(hook, RecordReader(records), out)
    assert summary["resumed"] == done > 0 and hook.calls == 20 - done
    assert not list(tmp_path.glob("*.corrupt-*"))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_unreadable_checkpoint_is_set_aside_and_the_run_starts_over(
    tmp_path: Path, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    out, partial, records = _crashed_run(tmp_path, fmt)
    partial.write_bytes(partial.read_bytes().replace(b"in_sync", b"in_\xffsync", 1))
    hook = FakeHook()
    with caplog.at_level(logging.WARNING):
        summary = run(hook, RecordReader(records), out)
    assert summary["resumed"] == 0 and hook.calls == 20 and summary["total"] == 20
    aside = list(tmp_path.glob(f"report.{fmt}.partial*.corrupt-*"))
    assert len(aside) == 2  # the rows and their digests, kept for a post-mortem
    assert "not valid UTF-8" in caplog.text and "set aside as" in caplog.text.lower()
    assert not partial.exists()
    # and the next run is not blocked by what was set aside
    assert run(FakeHook(), RecordReader(records), out)["total"] == 20


def test_an_edited_checkpoint_row_is_detected_and_the_run_starts_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, partial, records = _crashed_run(tmp_path)
    lines = partial.read_text().splitlines(keepends=True)
    row = json.loads(lines[2])
    row["class"], row["actual_status"] = "drifted", "failed"
    lines[2] = json.dumps(row, separators=(",", ":")) + "\n"
    partial.write_text("".join(lines))
    hook = FakeHook()
    with caplog.at_level(logging.WARNING):
        summary = run(hook, RecordReader(records), out)
    assert summary["resumed"] == 0 and hook.calls == 20
    assert summary["drifted"] == 0 and summary["in_sync"] == 20
    assert "row 3 does not match its digest (edited?)" in caplog.text
    assert len(list(tmp_path.glob("report.jsonl.partial*.corrupt-*"))) == 2


def test_a_removed_checkpoint_row_or_digest_file_is_detected(tmp_path: Path) -> None:
    out, partial, records = _crashed_run(tmp_path)
    lines = partial.read_text().splitlines(keepends=True)
    partial.write_text("".join(lines[:1] + lines[2:]))
    hook = FakeHook()
    assert run(hook, RecordReader(records), out)["resumed"] == 0 and hook.calls == 20

    other = tmp_path / "b"
    other.mkdir()
    out2, _, _ = _crashed_run(other)
    (other / "report.jsonl.partial.digests").unlink()
    hook = FakeHook()
    assert run(hook, RecordReader(records), out2)["resumed"] == 0 and hook.calls == 20
    assert list(other.glob("report.jsonl.partial*.corrupt-*"))
