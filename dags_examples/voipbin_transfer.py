"""VoIPbin: start an attended transfer, wait until the transferee answers, then complete it.

Trigger with the agent's call to transfer from (answered, bridged, ``progressing``), e.g.
``airflow dags test voipbin_transfer --conf '{"transferer_call_id": "<call uuid>"}'``.
Uses connection ``voipbin_default`` (the demo points it at the sandbox). When no call id is given and
``TRANSFER_SANDBOX_URL`` is set, the first task asks the sandbox for a fresh transferer call.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_transfers.operators.voipbin import (
    VoipbinCompleteTransferOperator,
    VoipbinCreateTransferOperator,
)
from airflow_provider_transfers.sensors.transfer import TransferStatusSensor

UUID = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"

with DAG(
    dag_id="voipbin_transfer",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["transfers", "voipbin", "example"],
    params={
        "transferer_call_id": Param("", type="string", pattern=UUID, description="the agent's call to transfer"),
        "target": Param("+15551234567", type="string", description="E.164 number of the transferee"),
    },
) as dag:

    @task
    def transferer_call(params: dict[str, Any] | None = None) -> str:
        """The call id from the run's params; in the sandbox demo, a fresh call when none is given."""
        if params and params["transferer_call_id"]:
            return str(params["transferer_call_id"])
        sandbox = os.environ.get("TRANSFER_SANDBOX_URL")
        if not sandbox:
            raise ValueError('Give the transferer call: --conf \'{"transferer_call_id": "<uuid>"}\'')
        response = httpx.post(f"{sandbox}/_sandbox/voipbin/calls", json={"status": "progressing"}, timeout=10)
        response.raise_for_status()
        return str(response.json()["id"])

    call_id = transferer_call()

    start = VoipbinCreateTransferOperator(
        task_id="start_transfer",
        transfer_type="attended",
        transferer_call_id=call_id,
        transferee_addresses=[{"type": "tel", "target": "{{ params.target }}"}],
    )

    # Done once a transferee answered (the agent is consulting); fails if the transfer failed first.
    answered = TransferStatusSensor(
        task_id="wait_for_answer",
        conn_id="voipbin_default",
        transfer=start.output,
        until_answered=True,
        poke_interval=1,
        timeout=300,
    )

    complete = VoipbinCompleteTransferOperator(task_id="complete_transfer", transfer=start.output)

    answered >> complete
