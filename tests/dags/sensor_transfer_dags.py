"""DAGs for tests/airflow/test_sensor_dags.py: the transfer sensor and waiting operator under ``dag.test()``.

``sensor_deferrable`` and ``sensor_reschedule`` take ``conn_id`` and ``transfer`` (one transfer's JSON
or a list) from the run's conf; ``sensor_twilio_pipeline`` creates a transfer, updates it waiting in
the triggerer, then senses it through the create task's XCom. Every task has retries, so a test can
show that a failed transfer does not use them.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_transfers.operators.twilio_flex import (
    TwilioFlexCreateTransferOperator,
    TwilioFlexUpdateTransferOperator,
)
from airflow_provider_transfers.sensors.transfer import TransferStatusSensor

DEFAULTS = {"retries": 2, "retry_delay": timedelta(seconds=0)}
START = pendulum.datetime(2026, 1, 1, tz="UTC")
FROM_CONF = {
    "conn_id": "{{ dag_run.conf['conn_id'] }}",
    "transfer": "{{ dag_run.conf['transfer'] | tojson }}",
}

with DAG("sensor_deferrable", schedule=None, start_date=START, catchup=False, default_args=DEFAULTS):
    TransferStatusSensor(task_id="wait", deferrable=True, poke_interval=0.2, timeout=30, **FROM_CONF)

with DAG("sensor_reschedule", schedule=None, start_date=START, catchup=False, default_args=DEFAULTS):
    TransferStatusSensor(task_id="wait", mode="reschedule", poke_interval=0.3, timeout=30, **FROM_CONF)

with DAG("sensor_twilio_pipeline", schedule=None, start_date=START, catchup=False, default_args=DEFAULTS):
    create = TwilioFlexCreateTransferOperator(
        task_id="create",
        interaction_sid="{{ dag_run.conf['interaction_sid'] }}",
        channel_sid="{{ dag_run.conf['channel_sid'] }}",
        body={"type": "cold"},
    )
    update = TwilioFlexUpdateTransferOperator(
        task_id="update",
        interaction_sid="{{ dag_run.conf['interaction_sid'] }}",
        channel_sid="{{ dag_run.conf['channel_sid'] }}",
        transfer_sid=create.output["transfer_sid"],
        body={"note": "waited for by the triggerer"},
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.2,
        timeout=30,
    )
    sense = TransferStatusSensor(
        task_id="sense",
        conn_id="twilio_flex_default",
        transfer=create.output,
        deferrable=True,
        poke_interval=0.2,
        timeout=30,
    )
    create >> update >> sense
