"""Audit each new reconciliation report: runs whenever a reconcile DAG publishes its report Asset.

The reports to audit come from the triggering Asset events (``extra["report"]``, and ``extra["total"]``
as the number of rows each must hold); for a manual run give ``report_path`` in the conf, e.g.
``airflow dags test audit_transfers --conf '{"report_path": "/tmp/airflow-provider-transfers/reports/voipbin.jsonl"}'``.

Every report's integrity is checked (rows 1..N once each, N the total its run recorded, bytes as
committed). Limits (inclusive; a rule breaks when the actual value is greater): at most half of the
transfers ``failed``; no record the platform cannot find or check; at most 10 stale and 100 drifted
transfers. A broken rule fails the audit task without retries, with a table of the rules and example rows.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, get_current_context, task

from airflow_provider_transfers.operators.reconcile import TransferAuditOperator

REPORT_ASSETS = [Asset(name=f"transfer_reconciliation/{platform}") for platform in ("twilio_flex", "voipbin")]


@task
def reports_to_audit() -> list[dict[str, Any]]:
    """``report_path`` from the conf, else the report (and its total) of every triggering Asset event
    (newest per Asset)."""
    context = get_current_context()
    given = str(context["params"].get("report_path") or "")
    if given:
        return [{"report_path": given, "expected_total": None}]
    reports: list[dict[str, Any]] = []
    events: Any = context.get("triggering_asset_events") or {}
    for asset_events in events.values():
        reported = [e.extra for e in asset_events if e.extra and e.extra.get("report")]
        if reported:
            reports.append({"report_path": str(reported[-1]["report"]), "expected_total": reported[-1].get("total")})
    if not reports:
        raise ValueError("nothing to audit: give report_path in the conf, or let a report Asset trigger this DAG")
    return reports


with DAG(
    dag_id="audit_transfers",
    schedule=REPORT_ASSETS[0] | REPORT_ASSETS[1],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["transfers", "reconcile", "audit", "example"],
    params={"report_path": Param("", type="string", description="audit this report (empty = from the Asset event)")},
) as dag:
    TransferAuditOperator.partial(
        task_id="audit",
        max_failed_ratio=0.5,
        max_errors=0,
        max_not_found=0,
        max_stale=10,
        max_drifted=100,
    ).expand_kwargs(reports_to_audit())
