"""VoIPbin resources as the API sends them, in either wire form (``SandboxConfig.voipbin_wire``).

``current`` (since February 2026): RFC 3339 timestamps and Go ``omitempty`` for calls and groupcalls
(``bin-call-manager/models/call/webhook.go:17-54``, ``models/groupcall/webhook.go:14-44``); transfers send
``null`` for unset times (``bin-transfer-manager/models/transfer/webhook.go:14-30``). ``legacy`` (before):
``2006-01-02 15:04:05.000000`` strings and, for unset timestamps, the ``9999-01-01`` sentinel of the database
layer (or ``deleted_style``). Paths are relative to ``voipbin/monorepo`` at commit 2bf22fa4.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_transfers.sandbox.clock import voipbin_time
from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.ids import NIL_UUID
from airflow_provider_transfers.sandbox.voipbin_calls import Call, Groupcall

SENTINEL_TIME = "9999-01-01 00:00:00.000000"


def address_out(address: dict[str, Any]) -> dict[str, Any]:
    """``CommonAddress`` as Go marshals it: every field ``omitempty``
    (bin-common-handler/models/address/main.go:5-9)."""
    return {k: address[k] for k in ("type", "target", "target_name", "name", "detail") if address.get(k)}


class VoipbinRenderer:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config

    @property
    def legacy(self) -> bool:
        return self.config.voipbin_wire == "legacy"

    def _time(self, us: int | None, out: dict[str, Any], key: str, *, nullable: bool = False) -> None:
        """A timestamp; unset ones today omitted (calls, groupcalls) or ``null`` (transfers), legacy per
        ``deleted_style`` (default: the database's ``9999-01-01`` sentinel)."""
        if us is not None:
            out[key] = voipbin_time(us, self.legacy)
        elif not self.legacy:
            if nullable:
                out[key] = None
        elif self.config.deleted_style == "sentinel":
            out[key] = SENTINEL_TIME
        elif self.config.deleted_style == "null":
            out[key] = None

    def call(self, call: Call) -> dict[str, Any]:
        """``call/webhook.go:17-54`` (key order and ``omitempty`` as there)."""
        out: dict[str, Any] = {
            "id": call.id,
            "customer_id": call.customer_id,
            "owner_type": "",
            "owner_id": NIL_UUID,
            "flow_id": call.flow_id,
            "activeflow_id": NIL_UUID,
            "type": "flow",
            "master_call_id": call.master_call_id,
        }
        if call.chained_call_ids:
            out["chained_call_ids"] = list(call.chained_call_ids)
        out["recording_id"] = NIL_UUID
        # ConvertWebhookMessage (webhook.go:57-91) does not copy GroupcallID: always the nil UUID.
        out["groupcall_id"] = NIL_UUID
        out["source"] = address_out(call.source)
        out["destination"] = address_out(call.destination)
        out["status"] = call.status
        action: dict[str, Any] = {
            "id": call.action_id,
            "next_id": NIL_UUID,
            "type": "confbridge_join",
            "option": {"confbridge_id": call.confbridge_id},
        }
        self._time(call.tm_create, action, "tm_execute")
        out["action"] = action
        out["direction"] = call.direction
        if call.hangup_by:
            out["hangup_by"] = call.hangup_by
        if call.hangup_reason:
            out["hangup_reason"] = call.hangup_reason
        for key in ("tm_progressing", "tm_ringing", "tm_hangup", "tm_create", "tm_update", "tm_delete"):
            self._time(getattr(call, key), out, key)
        return out

    def groupcall(self, groupcall: Groupcall) -> dict[str, Any]:
        """``groupcall/webhook.go:14-44`` (key order and ``omitempty`` as there: zero counts are left out, a
        negative ``groupcall_count`` is sent)."""
        out: dict[str, Any] = {
            "id": groupcall.id,
            "customer_id": groupcall.customer_id,
            "owner_type": "",
            "owner_id": NIL_UUID,
            "status": groupcall.status,
            "flow_id": groupcall.flow_id,
            "source": address_out(groupcall.source),
            "destinations": [address_out(d) for d in groupcall.destinations],
            "master_call_id": groupcall.master_call_id,
            "master_groupcall_id": groupcall.master_groupcall_id,
            "ring_method": "ring_all",
            "answer_method": "hangup_others",
            "answer_call_id": groupcall.answer_call_id,
        }
        if groupcall.call_ids:
            out["call_ids"] = list(groupcall.call_ids)
        out["answer_groupcall_id"] = NIL_UUID  # answer.go:69-82 never reaches the master groupcall
        if groupcall.groupcall_ids:
            out["groupcall_ids"] = list(groupcall.groupcall_ids)
        if groupcall.call_count:
            out["call_count"] = groupcall.call_count
        if groupcall.groupcall_count:
            out["groupcall_count"] = groupcall.groupcall_count
        for key in ("tm_create", "tm_update", "tm_delete"):
            self._time(getattr(groupcall, key, None), out, key)
        return out

    def transfer(self, transfer: Any) -> dict[str, Any]:
        """``transfer/webhook.go:14-30``: no ``omitempty``, unset times ``null``."""
        out: dict[str, Any] = {
            "id": transfer.id,
            "customer_id": transfer.customer_id,
            "type": transfer.type,
            "transferer_call_id": transfer.transferer_call_id,
            "transferee_addresses": [address_out(a) for a in transfer.transferee_addresses],
            "transferee_call_id": transfer.transferee_call_id,
            "groupcall_id": transfer.groupcall_id,
            "confbridge_id": transfer.confbridge_id,
        }
        for key in ("tm_create", "tm_update", "tm_delete"):
            self._time(getattr(transfer, key, None), out, key, nullable=True)
        return out
