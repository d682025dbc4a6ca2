"""The sandbox's VoIPbin: one customer's calls, groupcalls and transfers, and how they are rendered.

VoIPbin has no transfer status; clients derive it from the groupcall and the calls. The sandbox therefore
emulates the two server parts that move those resources: the call manager (:mod:`.voipbin_calls`: calls,
chained calls, groupcalls and their counts) and the transfer manager (:mod:`.voipbin_transfers`, which also
records the ground truth the scenario tests compare the hooks' derivation with). Rendering is
:mod:`.voipbin_render`. This module ties them together and sets up the calls a transfer starts from.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_transfers.sandbox.clock import SandboxClock
from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.ids import IdFactory
from airflow_provider_transfers.sandbox.lifecycle import OutcomePlanner
from airflow_provider_transfers.sandbox.scheduler import Scheduler
from airflow_provider_transfers.sandbox.voipbin_calls import Call, CallManager, Groupcall, Stamps
from airflow_provider_transfers.sandbox.voipbin_render import VoipbinRenderer
from airflow_provider_transfers.sandbox.voipbin_transfers import TransferManager, VoipbinTransfer

ADDRESS_TYPES = ("agent", "conference", "email", "extension", "line", "sip", "tel", "web_session")
CUSTOMER_SOURCE = {"type": "tel", "target": "+15550100001", "target_name": "", "name": "", "detail": ""}
AGENT_DESTINATION = {"type": "tel", "target": "+15550100002", "target_name": "", "name": "", "detail": ""}
MASTERS = ("customer", "agent")
"""Which leg of a customer/agent pair is the master call: the customer's (an agent reached through the
customer's flow) or the agent's (the agent dialled the customer)."""


class _Timeline:
    """Entities in creation order with strictly increasing ``tm_create`` (the pagination cursor)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.stamps: list[int] = []

    def add(self, item: Any) -> None:
        self.items.append(item)
        self.stamps.append(item.tm_create)

    def page(self, size: int, token: str, decode: Callable[[str], int | None]) -> list[Any]:
        """Newest first, strictly older than the cursor ``token`` (a ``tm_create`` string)."""
        end = len(self.items)
        if token:
            cursor = decode(token)
            end = 0 if cursor is None else bisect.bisect_left(self.stamps, cursor)
        start = max(0, end - size)
        return self.items[start:end][::-1]


@dataclass
class VoipbinStore:
    config: SandboxConfig
    clock: SandboxClock
    scheduler: Scheduler
    ids: IdFactory
    planner: OutcomePlanner
    call_timeline: _Timeline = field(default_factory=_Timeline)
    groupcall_timeline: _Timeline = field(default_factory=_Timeline)

    def __post_init__(self) -> None:
        self.stamps = Stamps(self.clock)
        self.manager = TransferManager(self.config, self.stamps, self.scheduler, self.ids, self.planner)
        self.call_manager = CallManager(
            self.config, self.stamps, self.scheduler, self.ids, self.planner, self.manager, self._add_to_timeline
        )
        self.manager.attach(self.call_manager)
        self.render = VoipbinRenderer(self.config)

    def set_config(self, config: SandboxConfig) -> None:
        self.config = self.manager.config = self.call_manager.config = self.render.config = config

    def _add_to_timeline(self, item: Call | Groupcall) -> None:
        (self.call_timeline if isinstance(item, Call) else self.groupcall_timeline).add(item)

    @property
    def calls(self) -> dict[str, Call]:
        return self.call_manager.calls

    @property
    def groupcalls(self) -> dict[str, Groupcall]:
        return self.call_manager.groupcalls

    @property
    def transfers(self) -> dict[str, VoipbinTransfer]:
        return self.manager.transfers

    def create_transferer_call(self, customer_id: str, status: str = "progressing", master: str = "customer") -> Call:
        """An agent's call in a conference with a customer's call, as a transfer starts from (returns the agent's).

        ``master`` says which of the two is the master call (the other is chained to it,
        ``callhandler/chained_call.go:14-69``). Only an answered (``progressing``) pair is in a conference.
        """
        if master not in MASTERS:
            raise ValueError(f"master must be one of {', '.join(MASTERS)}")
        add = self.call_manager.new_call
        customer = add(customer_id, status, "incoming", CUSTOMER_SOURCE, AGENT_DESTINATION)
        agent = add(customer_id, status, "outgoing", CUSTOMER_SOURCE, AGENT_DESTINATION)
        if master == "customer":
            self.call_manager.chain(customer, agent)
        else:
            self.call_manager.chain(agent, customer)
        if status == "progressing":
            customer.confbridge_id = agent.confbridge_id = self.ids.uuid()
        return agent

    def hangup_call(self, call: Call) -> None:
        """``POST /calls/{id}/hangup``: ``terminating``/``canceling`` in the answer, ``hangup`` after
        ``call_hangup_delay_s`` (the channel ends after the RPC answered)."""
        self.call_manager.hanging_up(call, self.stamps(), deferred=True)

    def hangup_groupcall(self, groupcall: Groupcall) -> None:
        """``POST /groupcalls/{id}/hangup``: ``hangingup`` now (even when it had ended), members end shortly after."""
        transfer = self.manager.transfers.get(self.manager.by_groupcall.get(groupcall.id, ""))
        if transfer is not None:
            transfer.generation += 1
        self.call_manager.hangingup(groupcall)

    def delete_call(self, call: Call) -> None:
        self.call_manager.delete(call)

    def derived_status(self, transfer: VoipbinTransfer) -> str:
        return self.manager.derived_status(transfer)

    def truth(self, transfer: VoipbinTransfer) -> dict[str, Any]:
        """Ground truth of one transfer with every resource it involves, as the API renders them."""
        groupcall = self.groupcalls[transfer.groupcall_id]
        caller = self.calls.get(transfer.caller_call_id)
        nested = [self.groupcalls[g] for g in groupcall.groupcall_ids if g in self.groupcalls]
        return {
            "status": self.derived_status(transfer),
            "decided_by": transfer.decided_by or None,
            "history": [{"event": event, "status": status} for event, status in transfer.history],
            "transfer": self.render.transfer(transfer),
            "groupcall": self.render.groupcall(groupcall),
            "nested_groupcalls": [self.render.groupcall(g) for g in nested],
            "transferer_call": self.render.call(self.calls[transfer.transferer_call_id]),
            "customer_call": None if caller is None else self.render.call(caller),
            "last_request_body": transfer.last_body,
        }
