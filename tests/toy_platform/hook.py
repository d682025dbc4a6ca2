"""``ToyHook``: the whole of the toy platform's integration (connection type ``toy``).

The toy API: ``GET /toys/{id}`` answers ``{"id", "state", "created"}`` where ``state`` is ``ringing``,
``answered`` or ``dropped``; ``POST /toys/{id}/drop`` drops a toy transfer. Ids are ``toy-`` plus digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import httpx
from airflow.sdk import Connection

from airflow_provider_transfers.exceptions import TransferValidationError
from airflow_provider_transfers.hooks.base import ConnectionSettings, Plan, TransferHook, TransferRef
from airflow_provider_transfers.http.client import Request, fallback_message
from airflow_provider_transfers.models import TransferCheck, TransferStatus
from airflow_provider_transfers.validation import full_match, validate, validate_base_url

ToyId = Annotated[str, full_match(r"toy-[0-9]+", "a toy id like toy-42")]
STATES = {"ringing": TransferStatus.ACTIVE, "answered": TransferStatus.COMPLETED, "dropped": TransferStatus.FAILED}


class ToyTransferRef(TransferRef):
    id: str

    @property
    def transfer_id(self) -> str:
        return self.id


class ToyHook(TransferHook):
    platform = "toy"
    conn_type = "toy"
    conn_name_attr = "toy_conn_id"
    default_conn_name = "toy_default"
    hook_name = "Toy"
    connection_ui: ClassVar[dict[str, Any]] = {}
    created_fields = ("created",)
    ref_model = ToyTransferRef

    @classmethod
    def settings_from_connection(cls, conn: Connection) -> ConnectionSettings:
        return ConnectionSettings(base_url=validate_base_url(conn.host or ""), auth=None)

    @staticmethod
    def parse_error(response: httpx.Response) -> dict[str, Any]:
        return {"message": fallback_message(response)}

    @classmethod
    def transfer_ref(cls, transfer: Any) -> ToyTransferRef:
        if not isinstance(transfer, Mapping):
            raise TransferValidationError("transfer", "the toy transfer's JSON object", type(transfer).__name__)
        return ToyTransferRef.model_construct(id=validate(ToyId, transfer.get("id"), "transfer['id']"))

    def check_plan(self, ref: ToyTransferRef) -> Plan[TransferCheck]:
        data = yield Request("GET", f"/toys/{ref.id}", bucket="toy")
        return TransferCheck(
            platform="toy", transfer_id=data["id"], status=STATES[data["state"]], detail=f"toy says {data['state']}"
        )

    @classmethod
    def check_stale_action(cls, body: Mapping[str, Any]) -> None:
        """Dropping needs no body."""

    def describe_stale_action(self, ref: ToyTransferRef, body: Mapping[str, Any]) -> str:
        return f"drop {ref.id}"

    async def aact_on_stale(self, ref: ToyTransferRef, body: Mapping[str, Any]) -> str:
        api = await self.aget_conn()
        data = await api.arequest(Request("POST", f"/toys/{ref.id}/drop", bucket="toy"))
        return f"dropped {ref.id}; state now {data['state']}"

    def _probe(self) -> str:
        self.api.request(Request("GET", "/toys/toy-0", bucket="toy"))
        return "Connected to the toy platform"
