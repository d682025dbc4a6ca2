"""Cluster tier: the Twilio Flex reconciliation as ``dags_examples/reconcile_sharded.py`` runs it (K = 4
mapped shards, then a merge), and the same job as one task, both on the records and report paths of
the run's conf.

The report paths are on the volume every worker shares: a local report's checkpoint lives next to it,
so a shard's retry resumes on whichever worker runs it. Retries come 2 s after a failure (the
deployment's heartbeat timeout decides how soon a killed worker's task counts as failed).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_transfers.operators.reconcile import TransferReconciliationOperator, TransferReportMergeOperator

SHARDS = 4
PARAMS = {"records_path": Param(type="string"), "report_path": Param(type="string")}
RECORDS, REPORT = "{{ params.records_path }}", "{{ params.report_path }}"
START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(dag_id="cluster_reconcile_sharded", schedule=None, start_date=START, params=PARAMS, tags=["cluster"]):
    shards = TransferReconciliationOperator.partial(
        task_id="reconcile",
        conn_id="twilio_flex_default",
        records=RECORDS,
        output_path=REPORT,
        stale_after="2h",
        shards=SHARDS,
        retries=2,
        retry_delay=timedelta(seconds=2),
    ).expand(shard=list(range(SHARDS)))
    TransferReportMergeOperator(task_id="merge", shard_results=shards.output, output_path=REPORT)

with DAG(dag_id="cluster_reconcile_single", schedule=None, start_date=START, params=PARAMS, tags=["cluster"]):
    TransferReconciliationOperator(
        task_id="reconcile",
        conn_id="twilio_flex_default",
        records=RECORDS,
        output_path=REPORT,
        stale_after="2h",
        retries=2,
        retry_delay=timedelta(seconds=2),
    )
