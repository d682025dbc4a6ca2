"""Nightly reconciliation of Twilio Flex transfers against what our system recorded.

Reads records (JSON Lines or CSV) from ``records_path``, checks each transfer at Twilio's published
rate limit and writes a report to ``report_path``, published as Asset
``transfer_reconciliation/twilio_flex`` (the event's ``extra["report"]`` is the path written), which
schedules ``audit_transfers``.

Conf / params (all optional):
  ``records_path``  default ``<dir>/records/twilio_flex.jsonl``
  ``report_path``   default ``<dir>/reports/twilio_flex.jsonl``
  ``stale_after``   default ``"2h"`` (active longer than this after creation = stale)
  ``conn_id``       default ``twilio_flex_default``
where ``<dir>`` is Airflow Variable ``transfer_reconcile_dir`` (default ``/tmp/airflow-provider-transfers``).
E.g. ``airflow dags test reconcile_twilio_flex --conf '{"records_path": "/data/flex.csv"}'``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, Param

from airflow_provider_transfers.operators.reconcile import TransferReconciliationOperator

PLATFORM = "twilio_flex"
REPORT_ASSET = Asset(name=f"transfer_reconciliation/{PLATFORM}")
BASE_DIR = "var.value.get('transfer_reconcile_dir', '/tmp/airflow-provider-transfers')"

with DAG(
    dag_id=f"reconcile_{PLATFORM}",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["transfers", PLATFORM, "reconcile", "example"],
    params={
        "records_path": Param("", type="string", description="records file; empty = <dir>/records/"),
        "report_path": Param("", type="string", description="report file; empty = <dir>/reports/"),
        "stale_after": Param("2h", type="string", description="e.g. 90m, 2h, 1d"),
        "conn_id": Param(f"{PLATFORM}_default", type="string"),
    },
) as dag:
    TransferReconciliationOperator(
        task_id="reconcile",
        conn_id="{{ params.conn_id }}",
        records="{{ params.records_path or (" + BASE_DIR + " ~ '/records/" + PLATFORM + ".jsonl') }}",
        output_path="{{ params.report_path or (" + BASE_DIR + " ~ '/reports/" + PLATFORM + ".jsonl') }}",
        stale_after="{{ params.stale_after }}",
        report_asset=REPORT_ASSET,
        retries=2,
    )
