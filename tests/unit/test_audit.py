"""``TransferAuditOperator`` and its rules: each rule passes at its limit and breaks above it."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_transfers.operators.reconcile import TransferAuditOperator
from airflow_provider_transfers.reconcile import REPORT_COLUMNS
from airflow_provider_transfers.reconcile.audit import check_limits

# 10 rows: 5 in_sync (2 of them failed), 2 drifted (1 failed), 1 stale, 1 not_found, 1 error.
CLASSES = [
    ("in_sync", "completed"), ("in_sync", "completed"), ("in_sync", "completed"), ("in_sync", "failed"),
    ("in_sync", "failed"), ("drifted", "failed"), ("drifted", "completed"), ("stale", "active"),
    ("not_found", ""), ("error", ""),
]  # fmt: skip


def _rows() -> list[dict[str, Any]]:
    return [
        {
            "row": i,
            "platform": "twilio_flex",
            "transfer_id": f"UX{i:032x}",
            "reference": {"sid": f"UX{i:032x}"},
            "recorded_status": "completed",
            "actual_status": actual,
            "class": cls,
            "detail": "d",
            "action": "",
            "checked_at": "2026-03-01T12:00:00Z",
        }
        for i, (cls, actual) in enumerate(CLASSES, start=1)
    ]


@pytest.fixture(params=["jsonl", "csv"])
def report(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"report.{request.param}"
    if request.param == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    else:
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, REPORT_COLUMNS)
            writer.writeheader()
            writer.writerows({**r, "reference": json.dumps(r["reference"])} for r in _rows())
    return path


def _audit(report: Path, **limits: Any) -> dict[str, Any]:
    result: dict[str, Any] = TransferAuditOperator(task_id="audit", report_path=str(report), **limits).execute({})  # type: ignore[arg-type]
    return result


@pytest.mark.parametrize(
    ("rule", "at_limit", "actual"),
    [
        ("max_failed_ratio", 0.3, 0.3),
        ("max_drifted", 2, 2),
        ("max_stale", 1, 1),
        ("max_not_found", 1, 1),
        ("max_errors", 1, 1),
    ],
)
def test_each_rule_passes_at_its_limit_and_breaks_below_it(
    report: Path, rule: str, at_limit: float, actual: float
) -> None:
    summary = _audit(report, **{rule: at_limit})
    assert summary["rules"] == [{"rule": rule, "limit": at_limit, "actual": actual, "broken": False}]
    assert summary["total"] == 10 and summary["failed"] == 3

    tighter = at_limit - (0.05 if rule == "max_failed_ratio" else 1)
    with pytest.raises(AirflowFailException) as caught:
        _audit(report, **{rule: tighter})
    table = str(caught.value)
    assert "1 of 1 rule(s) broken" in table
    line = next(x for x in table.splitlines() if x.startswith(rule))
    assert f"{actual:g}" in line and "row " in line


def test_the_table_lists_only_broken_rules_with_examples(report: Path) -> None:
    with pytest.raises(AirflowFailException) as caught:
        _audit(report, max_failed_ratio=0.1, max_drifted=5, max_errors=0)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"Audit of {report} failed: 2 of 3 rule(s) broken")
    assert lines[1].split() == ["rule", "limit", "actual", "examples"]
    assert lines[2].startswith("max_failed_ratio")
    assert f"row 4 UX{4:032x} (recorded completed, actual failed)" in lines[2]
    assert lines[2].count("row ") == 3
    assert lines[3].startswith("max_errors") and "row 10" in lines[3]
    assert len(lines) == 4


def test_no_rules_returns_the_summary(report: Path) -> None:
    summary = _audit(report)
    assert summary["rules"] == []
    assert {k: summary[k] for k in ("in_sync", "drifted", "stale", "not_found", "error")} == {
        "in_sync": 5, "drifted": 2, "stale": 1, "not_found": 1, "error": 1,
    }  # fmt: skip
    assert summary["failed_ratio"] == 0.3


def test_an_empty_report_has_ratio_zero(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert _audit(empty, max_failed_ratio=0.0)["failed_ratio"] == 0.0


def test_a_file_that_is_not_a_report_fails_clearly(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(AirflowFailException, match="not a reconciliation report; missing column"):
        _audit(other)


def test_limits_are_checked_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match=r"Invalid max_failed_ratio: expected a finite number within \[0, 1\]"):
        check_limits({"max_failed_ratio": 5})
    with pytest.raises(ValueError, match="Invalid max_drifted: expected a whole number >= 0"):
        check_limits({"max_drifted": -1})
    with pytest.raises(ValueError, match="Invalid max_typos: expected an audit rule among"):
        check_limits({"max_typos": 1})
    assert check_limits({"max_errors": "10", "max_failed_ratio": "0.5"}) == {"max_errors": 10, "max_failed_ratio": 0.5}
    assert TransferAuditOperator(task_id="a", report_path="/r.jsonl").retries == 0


# --------------------------------------------------------------------------------------------- integrity


def _committed(tmp_path: Path, count: int = 50, fmt: str = "jsonl") -> Path:
    """A report as a run commits it (with its manifest)."""
    import asyncio

    from airflow_provider_transfers.reconcile import RecordReader, reconcile
    from tests.unit.reconcile_fakes import FakeHook, record

    report = tmp_path / f"report.{fmt}"
    asyncio.run(reconcile(FakeHook(), RecordReader([record(i) for i in range(1, count + 1)]), report))
    return report


def _failure(report: Path, **kwargs: Any) -> list[str]:
    with pytest.raises(AirflowFailException) as caught:
        _audit(report, **kwargs)
    return str(caught.value).splitlines()


def _line(lines: list[str], rule: str) -> str:
    return next(x for x in lines if x.startswith(rule + " "))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_committed_report_passes_its_integrity_checks(tmp_path: Path, fmt: str) -> None:
    summary = _audit(_committed(tmp_path, fmt=fmt), max_errors=0)
    assert summary["total"] == 50
    assert summary["integrity"]["expected_total"] == 50 and summary["integrity"]["total_from"] == "manifest"
    checks = {c["rule"]: c["actual"] for c in summary["integrity"]["checks"]}
    assert checks == {
        "duplicate_rows": 0, "missing_rows": 0, "unexpected_rows": 0, "unreadable_rows": 0, "report_changed": 0,
    }  # fmt: skip


def test_a_duplicated_report_fails_naming_the_repeated_rows(tmp_path: Path) -> None:
    report = _committed(tmp_path)
    report.write_bytes(report.read_bytes() * 2)  # every row twice, as two unlocked runs used to commit
    lines = _failure(report, max_errors=0)
    assert lines[0].startswith(
        f"Audit of {report} failed: the report is not intact (duplicate_rows, report_changed; expected rows "
        "1..50 (manifest), each once); 0 of 1 rule(s) broken (total 100, in_sync 100,"
    )
    duplicated = _line(lines, "duplicate_rows")
    assert duplicated.split()[1:3] == ["0", "50"]
    assert "row 1 again (row 51 of the file); row 2 again (row 52 of the file); row 3 again" in duplicated
    assert "its bytes are not those committed by host " in _line(lines, "report_changed")


def test_a_truncated_report_fails_naming_the_missing_rows(tmp_path: Path) -> None:
    report = _committed(tmp_path)
    data = report.read_bytes()
    cut = data.index(b'{"row":31,') + 40
    report.write_bytes(data[:cut])  # the copy broke off in the middle of row 31
    lines = _failure(report)
    assert "the report is not intact (missing_rows, unreadable_rows; expected rows 1..50 (manifest)" in lines[0]
    missing = _line(lines, "missing_rows")
    assert missing.split()[1:3] == ["0", "20"] and missing.endswith("rows 31-50")
    assert "line 31 is not valid JSON" in _line(lines, "unreadable_rows")


def test_rows_cut_at_a_line_end_are_missing_against_the_manifest_or_expected_total(tmp_path: Path) -> None:
    report = _committed(tmp_path)
    report.write_text("".join(report.read_text().splitlines(keepends=True)[:45]))
    assert _line(_failure(report), "missing_rows").endswith("rows 46-50")
    report.with_name("report.jsonl.manifest.json").unlink()  # no manifest: the total given is the reference
    assert _audit(report)["total"] == 45  # numbered 1..45 once each: nothing to say without a total
    lines = _failure(report, expected_total="50")
    assert "expected rows 1..50 (expected_total)" in lines[0] and _line(lines, "missing_rows").endswith("rows 46-50")


def test_a_report_edited_after_its_commit_fails(tmp_path: Path) -> None:
    report = _committed(tmp_path)
    report.write_text(report.read_text().replace('"class":"in_sync"', '"class":"drifted"', 1))
    lines = _failure(report)
    assert "the report is not intact (report_changed;" in lines[0]
    assert "(report.jsonl.manifest.json)" in _line(lines, "report_changed")


def test_rows_numbered_outside_the_total_are_named(tmp_path: Path) -> None:
    report = _committed(tmp_path, count=5)
    rows = [json.loads(x) for x in report.read_text().splitlines()]
    rows[4]["row"] = 9
    report.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = _failure(report)
    assert _line(lines, "unexpected_rows").endswith("row 9 (row 5 of the file)")
    assert _line(lines, "missing_rows").endswith("row 5")


def test_expected_total_is_checked_against_the_manifest_too(tmp_path: Path) -> None:
    report = _committed(tmp_path)
    lines = _failure(report, expected_total=60)
    assert _line(lines, "total_recorded").endswith("expected_total is 60, the manifest records 50")
    assert _line(lines, "missing_rows").endswith("rows 51-60")
    assert _audit(report, expected_total=50)["integrity"]["total_from"] == "expected_total"


def test_a_report_read_between_the_two_renames_of_a_commit_passes(tmp_path: Path) -> None:
    """The manifest names the report being put in place (``pending``) before the rename, and still the
    previous one (``committed``): a reader in between accepts either."""
    old = _committed(tmp_path / "old", count=40)
    new = _committed(tmp_path / "new", count=50)
    old_manifest = json.loads(old.with_name("report.jsonl.manifest.json").read_text())
    new_manifest = json.loads(new.with_name("report.jsonl.manifest.json").read_text())
    between = {**new_manifest, "committed": old_manifest["committed"], "pending": new_manifest["committed"]}
    for report in (old, new):  # before the rename, and after it
        report.with_name("report.jsonl.manifest.json").write_text(json.dumps(between))
        summary = _audit(report)
        assert summary["integrity"]["expected_total"] == summary["total"] in (40, 50)


def test_expected_total_is_checked_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="Invalid expected_total: expected a whole number >= 0"):
        TransferAuditOperator(task_id="a", report_path="/r.jsonl", expected_total="many")
    templated = TransferAuditOperator(task_id="a", report_path="/r.jsonl", expected_total="{{ ti.xcom_pull() }}")
    assert "expected_total" in templated.template_fields
