"""OpenLineage datasets and facets of the reconciliation, the merge and the audit (``lineage.py``).

The events the provider's listener emits from real DAG runs are checked in tests/airflow/test_lineage_dags.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_transfers import lineage
from airflow_provider_transfers.reconcile.audit import audit_rows, check_limits
from tests.conftest import ROOT
from tests.factories import report_row

pytest.importorskip("airflow.providers.openlineage", reason="needs the openlineage extra")

SUMMARY = {
    "total": 5, "in_sync": 2, "drifted": 1, "stale": 1, "not_found": 0, "error": 1, "duplicate": 0,
    "report": "/r.jsonl", "resumed": 2, "actions": {"mode": "dry_run", "planned": 1, "done": 0, "failed": 0},
}  # fmt: skip


def _ids(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/data/records.jsonl", ("file", "/data/records.jsonl")),
        ("file:///data/records.csv", ("file", "/data/records.csv")),
        (ObjectStoragePath("file:///data/records.csv"), ("file", "/data/records.csv")),
        ("s3://bucket/in/2026-01-01.csv", ("s3://bucket", "in/2026-01-01.csv")),
        ("s3://aws_default@bucket/in/x.jsonl", ("s3://bucket", "in/x.jsonl")),
        ("gs://bucket/in/x.csv", ("gs://bucket", "in/x.csv")),
        ("gcs://bucket/in/x.csv", ("gs://bucket", "in/x.csv")),
    ],
)
def test_records_files_are_named_by_the_openlineage_naming_spec(given: Any, expected: tuple[str, str]) -> None:
    location = lineage.records_location(given, None)
    assert location is not None
    assert lineage.dataset_id(location) == expected


def test_a_location_with_credentials_is_named_nowhere() -> None:
    # Refused before any run (the reconciliation fails naming the form to use): lineage names no dataset, so the
    # secret reaches no OpenLineage event either.
    assert lineage.records_location("s3://user:s3cr3t@bucket/in/x.jsonl", None) is None
    assert lineage.report_location("s3://user:s3cr3t@bucket/out/report.jsonl") is None


def test_a_relative_local_path_is_named_by_its_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    location = lineage.records_location("in/records.csv", None)
    assert location is not None and lineage.dataset_id(location) == ("file", str(tmp_path / "in" / "records.csv"))


@pytest.mark.parametrize("records", [[{"transfer": {}, "recorded_status": "completed"}], '[{"a": 1}]', 42])
def test_records_that_are_no_file_have_no_dataset(records: Any) -> None:
    assert lineage.records_location(records, None) is None


def test_reconciliation_start_names_records_and_report_without_counts() -> None:
    found = lineage.reconciliation(records="/in/r.csv", records_format=None, output_path="/out/report.jsonl")
    assert _ids(found.inputs) == [("file", "/in/r.csv")]
    assert _ids(found.outputs) == [("file", "/out/report.jsonl")]
    assert found.run_facets == {} and found.outputs[0].outputFacets == {}
    assert [f.name for f in found.outputs[0].facets["schema"].fields][-1] == "checked_at"


def test_reconciliation_complete_carries_the_summary_as_a_run_facet_and_the_row_count() -> None:
    found = lineage.reconciliation(
        records="s3://b/r.jsonl", records_format=None, output_path="s3://b/out.jsonl", summary=SUMMARY
    )
    facet = found.run_facets["transfers_reconciliation"]
    assert (facet.total, facet.in_sync, facet.drifted, facet.stale, facet.error, facet.resumed) == (5, 2, 1, 1, 1, 2)
    assert facet.actions == SUMMARY["actions"] and facet.records_source == "file"
    assert facet.shard is None and facet._schemaURL.startswith("https://openlineage.io/")
    assert found.outputs[0].outputFacets["outputStatistics"].rowCount == 5


def test_records_from_an_xcom_list_give_no_input_and_say_so_in_the_facet() -> None:
    records = [{"transfer": {"sid": "UX" + "0" * 32}, "recorded_status": "completed"}]
    found = lineage.reconciliation(records=records, records_format=None, output_path="/o.csv", summary=SUMMARY)
    assert found.inputs == []
    assert _ids(found.outputs) == [("file", "/o.csv")]
    assert found.run_facets["transfers_reconciliation"].records_source == "list"


def test_a_failed_reconciliation_names_its_input_but_no_report() -> None:
    found = lineage.reconciliation(records="/in/r.csv", records_format=None, output_path="/o.csv", failed=True)
    assert _ids(found.inputs) == [("file", "/in/r.csv")] and found.outputs == []


def test_a_shard_reads_the_whole_records_file_and_writes_its_own_report() -> None:
    found = lineage.reconciliation(
        records="/in/r.jsonl", records_format=None, output_path="/out/rep.jsonl", shard=2, shards=4
    )
    assert _ids(found.inputs) == [("file", "/in/r.jsonl")]
    assert _ids(found.outputs) == [("file", "/out/rep.shard-2-of-4.jsonl")]


def test_merge_reads_the_shard_reports_and_writes_the_merged_one() -> None:
    shards = [{"report": f"/out/rep.shard-{i}-of-2.jsonl", "shard": i, "shards": 2} for i in range(2)]
    found = lineage.merge(output_path="/out/rep.jsonl", shard_results=shards, summary=SUMMARY)
    assert _ids(found.inputs) == [("file", "/out/rep.shard-0-of-2.jsonl"), ("file", "/out/rep.shard-1-of-2.jsonl")]
    assert _ids(found.outputs) == [("file", "/out/rep.jsonl")]
    assert found.run_facets["transfers_reconciliation"].total == 5
    failed = lineage.merge(output_path="/out/rep.jsonl", shard_results=shards, failed=True)
    assert len(failed.inputs) == 2 and failed.outputs == [] and failed.run_facets == {}


def test_audit_rules_become_data_quality_assertions_on_the_report() -> None:
    rows = [report_row("in_sync", "completed"), report_row("drifted", "failed"), report_row("not_found", "")]
    result = audit_rows(rows, check_limits({"max_failed_ratio": 0.5, "max_not_found": 0}), "/r.jsonl")

    found = lineage.audit(report_path="/r.jsonl", result=result)

    assert _ids(found.inputs) == [("file", "/r.jsonl")] and found.outputs == []
    assertions = found.inputs[0].inputFacets["dataQualityAssertions"].assertions
    assert [(a.assertion, a.success, a.expected, a.actual) for a in assertions] == [
        ("max_failed_ratio", True, "<= 0.5", "0.333333"),
        ("max_not_found", False, "<= 0", "1"),
    ]
    facet = found.run_facets["transfers_audit"]
    assert (facet.passed, facet.total, facet.failed) == (False, 3, 1)
    assert [r["rule"] for r in facet.rules if r["broken"]] == ["max_not_found"]


def test_an_audit_without_a_result_names_the_report_only() -> None:
    found = lineage.audit(report_path="/r.csv")
    assert _ids(found.inputs) == [("file", "/r.csv")] and found.run_facets == {}


def test_the_operators_delegate_and_use_what_their_run_kept() -> None:
    from airflow_provider_transfers.operators.reconcile import (
        TransferAuditOperator,
        TransferReconciliationOperator,
        TransferReportMergeOperator,
    )

    reconcile = TransferReconciliationOperator(
        task_id="r", conn_id="twilio_flex_default", records="/in/r.csv", output_path="/out/r.jsonl"
    )
    assert reconcile.get_openlineage_facets_on_complete(None).run_facets == {}
    reconcile.summary = SUMMARY
    complete = reconcile.get_openlineage_facets_on_complete(None)
    assert complete.run_facets["transfers_reconciliation"].total == 5
    assert reconcile.get_openlineage_facets_on_failure(None).outputs == []

    merge = TransferReportMergeOperator(task_id="m", shard_results=[], output_path="/out/r.jsonl")
    assert _ids(merge.get_openlineage_facets_on_start().outputs) == [("file", "/out/r.jsonl")]

    audit = TransferAuditOperator(task_id="a", report_path="/out/r.jsonl", max_errors=0)
    audit.audit = audit_rows([report_row("error", "")], audit.limits, "/out/r.jsonl")
    assert audit.get_openlineage_facets_on_failure(None).run_facets["transfers_audit"].passed is False


def test_the_operators_import_and_run_without_the_openlineage_provider(tmp_path: Path) -> None:
    """The extra is optional: with OpenLineage unimportable, the operators load and audit as before."""
    report = tmp_path / "r.jsonl"
    report.write_text(json.dumps(report_row("in_sync", "completed")) + "\n")
    script = f"""
import sys
for name in ("openlineage", "openlineage.client", "airflow.providers.openlineage.extractors"):
    sys.modules[name] = None  # unimportable, as without the extra
from airflow_provider_transfers.operators.reconcile import TransferAuditOperator
op = TransferAuditOperator(task_id="a", report_path={str(report)!r}, max_errors=0)
print(op.execute({{}})["total"])
assert not any(m.startswith("openlineage") and sys.modules[m] is not None for m in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "1"
