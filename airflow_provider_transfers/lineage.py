"""OpenLineage for the reconciliation, the merge and the audit: records in, report out, counts as facets
(docs/reconciliation.md, "OpenLineage"). OpenLineage is imported inside the functions: it is an optional extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_transfers.reconcile.classify import REPORT_COLUMNS
from airflow_provider_transfers.reconcile.records import RecordReader
from airflow_provider_transfers.reconcile.shard import shard_output
from airflow_provider_transfers.reconcile.storage import Location, to_location

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    from airflow_provider_transfers.reconcile.audit import AuditResult

_SCHEMES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}


def dataset_id(location: Location) -> tuple[str, str]:
    """``(namespace, name)`` of a file by OpenLineage's naming spec."""
    if isinstance(location, Path):
        return "file", str(location.resolve())
    scheme = _SCHEMES.get(location.protocol, location.protocol)
    if not location.bucket:
        return scheme, "/" + location.key.lstrip("/")
    return f"{scheme}://{location.bucket}", location.key


def records_location(records: Any, records_format: str | None) -> Location | None:
    """The records file, or ``None`` for a list of records (or records that cannot be read)."""
    try:
        return None if RecordReader(records, records_format).format == "list" else to_location(records)
    except ValueError:
        return None


def report_location(output_path: Any, shard: int = 0, shards: int = 1) -> Location | None:
    """Where a reconciliation writes its report (a shard: its own file next to ``output_path``)."""
    try:
        output = to_location(output_path)
    except (TypeError, ValueError):
        return None
    return shard_output(output, shard, shards) if shards > 1 else output


def reconciliation(
    *,
    records: Any,
    records_format: str | None,
    output_path: Any,
    shard: int = 0,
    shards: int = 1,
    summary: Mapping[str, Any] | None = None,
    failed: bool = False,
) -> OperatorLineage:
    """Input: the records file; output: the report (not on failure: nothing was published); the counts."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    source = records_location(records, records_format)
    inputs = [_input(source)] if source is not None else []
    report = None if failed else report_location(output_path, shard, shards)
    outputs = [_report(report, summary)] if report is not None else []
    facets = {} if summary is None else _summary_facet(summary, "file" if source is not None else "list")
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=facets)


def merge(
    *,
    output_path: Any,
    shard_results: Sequence[Any] | None = None,
    summary: Mapping[str, Any] | None = None,
    failed: bool = False,
) -> OperatorLineage:
    """Inputs: the shards' reports; output: the merged report (not on failure); the merged counts."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    reports = [r["report"] for r in shard_results or () if isinstance(r, Mapping) and r.get("report")]
    inputs = [_input(to_location(report)) for report in reports]
    merged = None if failed else report_location(output_path)
    outputs = [_report(merged, summary)] if merged is not None else []
    facets = {} if summary is None else _summary_facet(summary, "file")
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=facets)


def audit(*, report_path: Any, result: AuditResult | None = None) -> OperatorLineage:
    """Input: the audited report, with each rule as a data-quality assertion; the audit's result as a facet."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    from airflow_provider_transfers.lineage_facets import AUDIT_FACET, TransferAuditRunFacet

    report = report_location(report_path)
    if report is None:
        return OperatorLineage()
    if result is None:
        return OperatorLineage(inputs=[_input(report)])
    assertions = [
        dq.Assertion(
            assertion=rule.rule,
            success=not rule.broken,
            severity="error",
            expected=f"<= {rule.limit:g}",
            actual=f"{rule.actual:g}",
        )
        for rule in result.rules
    ]
    facet = TransferAuditRunFacet(
        passed=not result.broken,
        total=result.tally.rows,
        failed=result.failed,
        failed_ratio=round(result.failed_ratio, 6),
        rules=[rule.to_dict() for rule in result.rules],
    )
    quality = dq.DataQualityAssertionsDatasetFacet(assertions=assertions)
    return OperatorLineage(inputs=[_input(report, {"dataQualityAssertions": quality})], run_facets={AUDIT_FACET: facet})


def _input(location: Location, input_facets: dict[str, Any] | None = None) -> InputDataset:
    from openlineage.client.event_v2 import InputDataset

    namespace, name = dataset_id(location)
    return InputDataset(namespace=namespace, name=name, inputFacets=input_facets or {})


def _report(location: Location, summary: Mapping[str, Any] | None) -> OutputDataset:
    """The report as an output dataset: its columns and, once written, its row count."""
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset as stats
    from openlineage.client.facet_v2 import schema_dataset

    namespace, name = dataset_id(location)
    columns = [schema_dataset.SchemaDatasetFacetFields(name=column) for column in REPORT_COLUMNS]
    output_facets: dict[str, Any] = {}
    if summary is not None:
        output_facets["outputStatistics"] = stats.OutputStatisticsOutputDatasetFacet(rowCount=int(summary["total"]))
    return OutputDataset(
        namespace=namespace,
        name=name,
        facets={"schema": schema_dataset.SchemaDatasetFacet(fields=columns)},
        outputFacets=output_facets,
    )


def _summary_facet(summary: Mapping[str, Any], records_source: str) -> dict[str, Any]:
    from airflow_provider_transfers.lineage_facets import RECONCILIATION_FACET, TransferReconciliationRunFacet

    keys = ("total", "in_sync", "drifted", "stale", "not_found", "error", "duplicate", "resumed")
    counts: dict[str, Any] = {key: int(summary.get(key, 0)) for key in keys}
    facet = TransferReconciliationRunFacet(
        **counts,
        actions=dict(summary.get("actions") or {}),
        records_source=records_source,
        shard=summary.get("shard"),
        shards=summary.get("shards"),
    )
    return {RECONCILIATION_FACET: facet}
