"""Reading records (list, JSON text, JSONL, CSV) and validating them against the record schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_transfers.hooks.voipbin import VoipbinHook
from airflow_provider_transfers.reconcile.durations import parse_duration
from airflow_provider_transfers.reconcile.records import RawRecord, RecordReader
from airflow_provider_transfers.reconcile.storage import detect_format, to_location
from airflow_provider_transfers.reconcile.validate import Prepared, RecordError, prepare
from tests.unit.reconcile_fakes import FakeHook, record, twilio_transfer

UUIDS = [f"3fa85f64-5717-4562-b3fc-2c963f66afa{i}" for i in range(4)]


def test_list_json_text_and_python_literal_text_give_the_same_records() -> None:
    records = [record(1), record(2, "failed")]
    as_list = [r.data for r in RecordReader(records)]
    assert as_list == records
    assert [r.data for r in RecordReader(json.dumps(records))] == records
    assert [r.data for r in RecordReader(str(records))] == records
    assert [r.number for r in RecordReader(records)] == [1, 2]


def test_a_reader_can_be_read_twice_and_skips_blank_jsonl_lines(tmp_path: Path) -> None:
    src = tmp_path / "in.ndjson"
    src.write_text(json.dumps(record(1)) + "\n\n" + json.dumps(record(2)) + "\n")
    reader = RecordReader(ObjectStoragePath(f"file://{src}"))
    first, second = list(reader), list(reader)
    assert [(r.number, r.line) for r in first] == [(1, 1), (2, 3)] == [(r.number, r.line) for r in second]


def test_csv_empty_cells_are_absent_and_extra_cells_are_an_error(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("sid,recorded_status,created_at\nUX1,completed,\nUX2,failed,x,extra\n")
    rows = list(RecordReader(str(src), records_format="csv"))
    assert rows[0].data == {"sid": "UX1", "recorded_status": "completed"}
    assert rows[1].parse_error == "has more cells than the header has columns"


def test_formats_come_from_the_extension_or_are_given() -> None:
    assert detect_format(to_location("/x/r.JSONL"), None, what="records") == "jsonl"
    assert detect_format(to_location("s3://b/r.csv"), None, what="records") == "csv"
    assert detect_format(to_location("/x/r.data"), "ndjson", what="records") == "jsonl"
    with pytest.raises(ValueError, match=r"cannot tell the report format from /x/r.json"):
        detect_format(to_location("/x/r.json"), None, what="report")
    with pytest.raises(ValueError, match="records format must be one of jsonl, csv"):
        detect_format(None, "xml", what="records")
    with pytest.raises(ValueError, match="records must be a list"):
        RecordReader(42)  # type: ignore[arg-type]


def test_file_urls_are_local_paths_and_other_urls_stay_object_storage() -> None:
    assert to_location("file:///tmp/r.csv") == Path("/tmp/r.csv")
    assert to_location(ObjectStoragePath("file:///tmp/r.csv")) == Path("/tmp/r.csv")
    assert isinstance(to_location("s3://bucket/r.csv"), ObjectStoragePath)


@pytest.mark.parametrize("given", ["s3://AKIAEXAMPLE:s3cr3t-value@bucket/r.jsonl", " gcs://tok:s3cr3t-value@b/r.csv"])
def test_credentials_in_a_location_are_refused_without_being_shown(given: str) -> None:
    from airflow_provider_transfers.operators.reconcile import report_asset_for

    for attempt in (
        lambda: to_location(given),
        lambda: to_location(ObjectStoragePath(given.strip())),
        lambda: RecordReader(given),
        lambda: report_asset_for(given),
    ):
        with pytest.raises(ValueError, match="holds credentials") as caught:
            attempt()
        assert "s3cr3t" not in str(caught.value) and "AKIA" not in str(caught.value)
    assert to_location("s3://aws_default@bucket/r.jsonl").conn_id == "aws_default"  # a connection id is fine


def _prepare(data: Any, hook: Any = None) -> Prepared:
    return prepare(RawRecord(7, data), hook or FakeHook())


def test_nested_and_flat_twilio_records_are_the_same_reference() -> None:
    nested = _prepare(record(1))
    ids = {k: twilio_transfer(1)[k] for k in ("interaction_sid", "channel_sid", "sid")}
    flat = _prepare({**ids, "recorded_status": " Completed "})
    assert nested.reference == flat.reference
    assert flat.recorded_status == "completed"
    assert nested.created_at == datetime(2026, 3, 1, 11, 30, tzinfo=UTC)
    assert flat.created_at is None


def test_voipbin_records_and_their_tm_create() -> None:
    transfer = {"id": UUIDS[0], "type": "attended", "groupcall_id": UUIDS[1], "transferer_call_id": UUIDS[2],
                "tm_create": "2026-03-01 10:00:15.000000"}  # fmt: skip
    prepared = _prepare({"transfer": json.dumps(transfer), "recorded_status": "active"}, VoipbinHook)
    assert prepared.reference == {k: transfer[k] for k in ("id", "type", "groupcall_id", "transferer_call_id")}
    assert prepared.created_at == datetime(2026, 3, 1, 10, 0, 15, tzinfo=UTC)
    with pytest.raises(RecordError, match=r"record 7: Invalid transfer\['type'\]: expected 'attended' or 'blind'"):
        _prepare({**transfer, "type": "warm", "recorded_status": "active"}, VoipbinHook)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"recorded_status": "completed"}, r"record 7: Invalid transfer\['interaction_sid'\]"),
        ({**record(1), "recorded_status": None}, "field 'recorded_status' must be one of .*; got missing"),
        ({"transfer": [1], "recorded_status": "active"}, "field 'transfer' must be the transfer's JSON object"),
        ({"transfer": "{nope", "recorded_status": "active"}, "field 'transfer' holds text that is not JSON"),
        ({**record(1), "created_at": "soon"}, "field 'created_at' must be an ISO 8601 date-time"),
        ("text", "expected an object with 'recorded_status' and a transfer; got str"),
    ],
)
def test_invalid_records_name_the_record_and_field(data: Any, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        _prepare(data)


def test_durations() -> None:
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("2h") == parse_duration(7200) == parse_duration(timedelta(hours=2))
    assert parse_duration("1.5d") == timedelta(hours=36)
    assert parse_duration("off") is None and parse_duration(None) is None
    with pytest.raises(ValueError, match="Invalid stale_after: expected a timedelta, seconds, or text like '90m'"):
        parse_duration("two hours")
    for bad in (-1, float("nan"), float("inf"), 10**400, "1e9d", "99999999d"):
        with pytest.raises(ValueError, match=r"Invalid stale_after: expected .*finite, >= 0"):
            parse_duration(bad)
