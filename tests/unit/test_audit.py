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
