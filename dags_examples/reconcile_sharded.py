"""Nightly Twilio Flex reconciliation split over 4 mapped tasks, then merged into one report.

The same job as ``reconcile_twilio_flex``, for inputs too large for one worker's time window: shard
``i`` of ``SHARDS`` checks records ``i+1, i+1+SHARDS, ...`` (``TransferReconciliationOperator``'s
``shard``/``shards``) into ``<report>.shard-<i>-of-<SHARDS>.jsonl``; each shard retries and resumes on
its own. ``merge`` (``TransferReportMergeOperator``) then writes the report a single task would have
written, in input order, with the same summary, and publishes Asset ``transfer_reconciliation/twilio_flex``
(which schedules ``audit_transfers``).

All shards spend one account's budget (Twilio: 20 requests/s per endpoint): on several workers set the
connection extra ``rate_limit_backend`` (``redis://host:6379/0``, e.g. Celery's Redis) so they share one
bucket; without it the adaptive limit (the default) makes them converge to their share.

Conf / params as ``reconcile_twilio_flex``: ``records_path``, ``report_path``, ``stale_after``, ``conn_id``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, Param

from airflow_provider_transfers.operators.reconcile import TransferReconciliationOperator, TransferReportMergeOperator

PLATFORM = "twilio_flex"
SHARDS = 4
REPORT_ASSET = Asset(name=f"transfer_reconciliation/{PLATFORM}")
BASE_DIR = "var.value.get('transfer_reconcile_dir', '/tmp/airflow-provider-transfers')"
RECORDS = "{{ params.records_path or (" + BASE_DIR + " ~ '/records/" + PLATFORM + ".jsonl') }}"
REPORT = "{{ params.report_path or (" + BASE_DIR + " ~ '/reports/" + PLATFORM + "-sharded.jsonl') }}"

with DAG(
    dag_id="reconcile_sharded",
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
    shards = TransferReconciliationOperator.partial(
        task_id="reconcile",
        conn_id="{{ params.conn_id }}",
        records=RECORDS,
        output_path=REPORT,
        stale_after="{{ params.stale_after }}",
        shards=SHARDS,
        retries=2,
    ).expand(shard=list(range(SHARDS)))
    TransferReportMergeOperator(
        task_id="merge", shard_results=shards.output, output_path=REPORT, report_asset=REPORT_ASSET
    )
