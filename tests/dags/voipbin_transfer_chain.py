"""Test DAG: create an attended VoIPbin transfer, check its status, complete it.

The complete step takes the transfer as rendered template text (JSON), the way a DAG without
``render_template_as_native_obj`` hands XComs to templated fields.
"""

from __future__ import annotations

import json
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_transfers.hooks.voipbin import VoipbinHook
from airflow_provider_transfers.operators.voipbin import (
    VoipbinCompleteTransferOperator,
    VoipbinCreateTransferOperator,
)

ADDRESSES = [{"type": "tel", "target": "+15550001111"}, {"type": "sip", "target": "bob@example.com"}]

with DAG(
    dag_id="voipbin_transfer_chain",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"transferer_call_id": "", "transfer_type": "attended"},
) as dag:
    create = VoipbinCreateTransferOperator(
        task_id="create_transfer",
        transfer_type="{{ params.transfer_type }}",
        transferer_call_id="{{ params.transferer_call_id }}",
        transferee_addresses=json.dumps(ADDRESSES),
    )

    @task
    def check_status(transfer: Any) -> dict[str, Any]:
        with VoipbinHook() as hook:
            return hook.check_transfer(transfer).to_xcom()

    complete = VoipbinCompleteTransferOperator(
        task_id="complete_transfer",
        transfer="{{ ti.xcom_pull(task_ids='create_transfer') | tojson }}",
        poll_interval=0.2,
    )

    check_status(create.output) >> complete
