"""Cluster tier: one deferrable ``TransferStatusSensor`` per transfer of the run's conf (mapped).

``conf = {"transfers": [<transfer JSON>, ...]}``: each mapped ``wait`` checks its transfer once on a
Celery worker, defers to a triggerer, and succeeds (``completed``) or fails (``failed``) with the
transfer. ``provider_origin`` returns where the worker imported the provider from.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

import airflow_provider_transfers
from airflow_provider_transfers.sensors.transfer import TransferStatusSensor

with DAG(
    dag_id="cluster_waits",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=64,
    params={"transfers": Param([], type="array")},
    tags=["cluster"],
) as dag:

    @task
    def transfers(**context: Any) -> list[dict[str, Any]]:
        return list(context["params"]["transfers"])

    @task
    def provider_origin() -> dict[str, str]:
        return {"file": airflow_provider_transfers.__file__, "prefix": sys.prefix, "host": socket.gethostname()}

    TransferStatusSensor.partial(
        task_id="wait",
        conn_id="twilio_flex_default",
        deferrable=True,
        poke_interval=5,
        timeout=900,
        retries=0,
    ).expand(transfer=transfers())
    provider_origin()
