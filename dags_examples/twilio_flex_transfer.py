"""Twilio Flex: create a transfer on an Interaction Channel, update it, then wait until it ends.

Trigger with the interaction and channel to transfer from, e.g.
``airflow dags test twilio_flex_transfer --conf '{"interaction_sid": "KD...", "channel_sid": "UO..."}'``.
Uses connection ``twilio_flex_default`` (the demo points it at the sandbox).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_transfers.operators.twilio_flex import (
    TwilioFlexCreateTransferOperator,
    TwilioFlexUpdateTransferOperator,
)
from airflow_provider_transfers.sensors.transfer import TransferStatusSensor

SID = "^{prefix}[0-9a-fA-F]{{32}}$"

with DAG(
    dag_id="twilio_flex_transfer",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["transfers", "twilio_flex", "example"],
    params={
        "interaction_sid": Param("KD" + "0" * 32, type="string", pattern=SID.format(prefix="KD")),
        "channel_sid": Param("UO" + "0" * 32, type="string", pattern=SID.format(prefix="UO")),
        "to": Param("WW" + "0" * 32, type="string", description="TaskRouter workflow (or worker) to transfer to"),
    },
) as dag:
    create = TwilioFlexCreateTransferOperator(
        task_id="create_transfer",
        interaction_sid="{{ params.interaction_sid }}",
        channel_sid="{{ params.channel_sid }}",
        body={"to": "{{ params.to }}", "type": "warm"},
    )
    update = TwilioFlexUpdateTransferOperator(
        task_id="update_transfer",
        interaction_sid="{{ params.interaction_sid }}",
        channel_sid="{{ params.channel_sid }}",
        transfer_sid="{{ ti.xcom_pull(task_ids='create_transfer', key='transfer_sid') }}",
        body='{"note": "escalated by {{ dag.dag_id }}"}',
    )
    wait = TransferStatusSensor(
        task_id="wait_for_transfer",
        conn_id="twilio_flex_default",
        transfer=create.output,  # the transfer's JSON, as the create operator returned it
        deferrable=True,  # waits in the triggerer, not in a worker slot
        poke_interval=2,
        timeout=10 * 60,
    )
    create >> update >> wait
