"""VoIPbin resources (calls, groupcalls, transfers) and the transfer lifecycle.

VoIPbin has no transfer status; clients derive it from the groupcall and the transferer call. The
sandbox therefore models those resources faithfully:

* creating a transfer creates a groupcall (``progressing``, ``answer_call_id`` = nil UUID) and one
  transferee call per address (``dialing`` -> ``ringing``);
* success: one transferee call answers (``progressing``), the groupcall gets its ``answer_call_id``, the
  other transferee calls hang up with reason ``cancel``; a blind transfer also hangs up the transferer
  call (reason ``normal``); an attended one keeps it ``progressing`` (consulting) until someone hangs it
  up (or ``auto_complete_after`` passes);
* failure: every transferee call hangs up with ``noanswer`` (or ``busy``) and the groupcall ``hangup``.

Statuses only move forward.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_transfers.sandbox.clock import SandboxClock, seconds_to_us, voipbin_time
from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.ids import NIL_UUID, IdFactory
from airflow_provider_transfers.sandbox.lifecycle import COMPLETED, FAILED, OutcomePlanner, Plan
from airflow_provider_transfers.sandbox.scheduler import Scheduler

CALL_ORDER = {"dialing": 0, "ringing": 1, "progressing": 2, "terminating": 3, "canceling": 3, "hangup": 4}
GROUPCALL_ORDER = {"progressing": 0, "hangingup": 1, "hangup": 2}
TRANSFER_TYPES = ("attended", "blind")
ADDRESS_TYPES = ("agent", "conference", "email", "extension", "line", "sip", "tel", "web_session")
SENTINEL_TIME = "9999-01-01 00:00:00.000000"
CUSTOMER_SOURCE = {"type": "tel", "target": "+15550100001", "target_name": "", "name": "", "detail": ""}
AGENT_DESTINATION = {"type": "tel", "target": "+15550100002", "target_name": "", "name": "", "detail": ""}


@dataclass
class Call:
    id: str
    customer_id: str
    status: str
    direction: str
    source: dict[str, Any]
    destination: dict[str, Any]
    tm_create: int
    tm_update: int
    groupcall_id: str = NIL_UUID
    master_call_id: str = NIL_UUID
    chained_call_ids: list[str] = field(default_factory=list)
    hangup_by: str = ""
    hangup_reason: str = ""
    tm_ringing: int | None = None
    tm_progressing: int | None = None
    tm_hangup: int | None = None

    def move(self, status: str, at: int, reason: str = "", by: str = "") -> bool:
        """Forward-only status change; returns whether it happened."""
        if CALL_ORDER[status] <= CALL_ORDER[self.status]:
            return False
        self.status = status
        self.tm_update = at
        if status == "ringing":
            self.tm_ringing = at
        elif status == "progressing":
            self.tm_progressing = at
        elif status == "hangup":
            self.tm_hangup = at
        if reason and not self.hangup_reason:
            self.hangup_reason = reason
            self.hangup_by = by
        return True

    @property
    def ended(self) -> bool:
        return CALL_ORDER[self.status] >= CALL_ORDER["terminating"]


@dataclass
class Groupcall:
    id: str
    customer_id: str
    source: dict[str, Any]
    destinations: list[dict[str, Any]]
    master_call_id: str
    call_ids: list[str]
    tm_create: int
    tm_update: int
    transfer_id: str
    status: str = "progressing"
    answer_call_id: str = NIL_UUID

    def move(self, status: str, at: int) -> bool:
        if GROUPCALL_ORDER[status] <= GROUPCALL_ORDER[self.status]:
            return False
        self.status = status
        self.tm_update = at
        return True


@dataclass
class VoipbinTransfer:
    id: str
    customer_id: str
    type: str
    transferer_call_id: str
    transferee_addresses: list[dict[str, Any]]
    transferee_call_id: str
    groupcall_id: str
    confbridge_id: str
    tm_create: int
    tm_update: int
    last_body: dict[str, Any]
    auto_complete_after_s: float | None = None
    generation: int = 0


class TransferConflict(Exception):
    """The requested outcome can no longer happen."""


class _Timeline:
    """Entities in creation order with strictly increasing ``tm_create`` (the pagination cursor)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.stamps: list[int] = []

    def add(self, item: Any, stamp: int) -> None:
        self.items.append(item)
        self.stamps.append(stamp)

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
    calls: dict[str, Call] = field(default_factory=dict)
    groupcalls: dict[str, Groupcall] = field(default_factory=dict)
    transfers: dict[str, VoipbinTransfer] = field(default_factory=dict)
    call_timeline: _Timeline = field(default_factory=_Timeline)
    groupcall_timeline: _Timeline = field(default_factory=_Timeline)
    _last_stamp: int = 0

    def _stamp(self) -> int:
        """Now, but strictly after the previous creation so ``tm_create`` is unique."""
        self._last_stamp = max(self.clock.now_us(), self._last_stamp + 1)
        return self._last_stamp

    def _new_call(
        self, customer_id: str, status: str, direction: str, source: dict[str, Any], dest: dict[str, Any]
    ) -> Call:
        now = self._stamp()
        call = Call(self.ids.uuid(), customer_id, status, direction, dict(source), dict(dest), now, now)
        if status in ("ringing", "progressing", "hangup"):
            call.tm_ringing = now
        if status in ("progressing", "hangup"):
            call.tm_progressing = now
        if status == "hangup":
            call.tm_hangup = now
            call.hangup_reason = "normal"
            call.hangup_by = "remote"
        self.calls[call.id] = call
        self.call_timeline.add(call, now)
        return call

    def create_transferer_call(self, customer_id: str, status: str = "progressing") -> Call:
        """An agent call bridged to a customer call, as a transfer starts from."""
        customer = self._new_call(customer_id, status, "incoming", CUSTOMER_SOURCE, AGENT_DESTINATION)
        agent = self._new_call(customer_id, status, "outgoing", CUSTOMER_SOURCE, AGENT_DESTINATION)
        customer.chained_call_ids.append(agent.id)
        agent.chained_call_ids.append(customer.id)
        return agent

    def create_transfer(
        self,
        customer_id: str,
        transfer_type: str,
        transferer: Call,
        addresses: list[dict[str, Any]],
        body: dict[str, Any],
        plan: Plan | None = None,
        auto_complete_after_s: float | None = None,
    ) -> VoipbinTransfer:
        plan = plan or self.planner.plan(self.config)
        transfer_id = self.ids.uuid()
        groupcall_id = self.ids.uuid()
        calls = [
            self._new_call(customer_id, "dialing", "outgoing", transferer.source, address) for address in addresses
        ]
        for call in calls:
            call.groupcall_id = groupcall_id
            call.master_call_id = transferer.id
        now = self._stamp()
        groupcall = Groupcall(
            id=groupcall_id,
            customer_id=customer_id,
            source=dict(transferer.source),
            destinations=[dict(a) for a in addresses],
            master_call_id=transferer.id,
            call_ids=[c.id for c in calls],
            tm_create=now,
            tm_update=now,
            transfer_id=transfer_id,
        )
        self.groupcalls[groupcall_id] = groupcall
        self.groupcall_timeline.add(groupcall, now)
        transfer = VoipbinTransfer(
            id=transfer_id,
            customer_id=customer_id,
            type=transfer_type,
            transferer_call_id=transferer.id,
            transferee_addresses=[dict(a) for a in addresses],
            transferee_call_id=transferer.chained_call_ids[0] if transferer.chained_call_ids else NIL_UUID,
            groupcall_id=groupcall_id,
            confbridge_id=self.ids.uuid(),
            tm_create=now,
            tm_update=now,
            last_body=dict(body),
            auto_complete_after_s=auto_complete_after_s,
        )
        self.transfers[transfer_id] = transfer
        ring_at = now + min(seconds_to_us(self.config.ring_delay_s), plan.delay_us // 2)
        self.scheduler.at(ring_at, lambda at: self._ring(groupcall, at))
        self._schedule_resolution(transfer, now + plan.delay_us, plan.success, force_complete=False)
        return transfer

    def _ring(self, groupcall: Groupcall, at: int) -> None:
        for call_id in groupcall.call_ids:
            call = self.calls[call_id]
            if call.status == "dialing":
                call.move("ringing", at)

    def _schedule_resolution(self, transfer: VoipbinTransfer, when: int, success: bool, force_complete: bool) -> None:
        generation = transfer.generation

        def resolve(at: int) -> None:
            if transfer.generation == generation:
                self._resolve(transfer, at, success, force_complete)

        self.scheduler.at(when, resolve)

    def _resolve(self, transfer: VoipbinTransfer, at: int, success: bool, force_complete: bool) -> None:
        groupcall = self.groupcalls[transfer.groupcall_id]
        if groupcall.status != "progressing" or groupcall.answer_call_id != NIL_UUID:
            return
        live = [self.calls[c] for c in groupcall.call_ids if not self.calls[c].ended]
        transferer = self.calls[transfer.transferer_call_id]
        if success and live:
            answered = self.planner.choice(live)
            answered.move("ringing", at)
            answered.move("progressing", at)
            groupcall.answer_call_id = answered.id
            groupcall.tm_update = at
            for call in live:
                if call is not answered:
                    call.move("hangup", at, "cancel", "local")
            if transfer.type == "blind" or force_complete:
                self._end_call(transferer, at, immediate=True)
            elif transfer.auto_complete_after_s is not None:
                self.scheduler.at(
                    at + seconds_to_us(transfer.auto_complete_after_s),
                    lambda when: self._end_call(transferer, when, immediate=True),
                )
        else:
            for call in live:
                reason = "busy" if self.planner.chance(0.25) else "noanswer"
                call.move("hangup", at, reason, "remote")
            groupcall.move("hangup", at)
        transfer.tm_update = at

    def hangup_call(self, call: Call) -> None:
        """``POST /calls/{id}/hangup``: ``terminating``/``canceling`` now, ``hangup`` after the configured delay."""
        self._end_call(call, self.clock.now_us(), immediate=False)

    def _end_call(self, call: Call, at: int, immediate: bool) -> None:
        if call.ended:
            return
        ringing = call.status in ("dialing", "ringing")
        call.move("canceling" if ringing else "terminating", at, "cancel" if ringing else "normal", "local")
        delay = 0 if immediate else seconds_to_us(self.config.call_hangup_delay_s)
        if immediate:
            self._finish_call(call, at)
        else:
            self.scheduler.at(at + delay, lambda when: self._finish_call(call, when))

    def _finish_call(self, call: Call, at: int) -> None:
        if not call.move("hangup", at):
            return
        groupcall = self.groupcalls.get(call.groupcall_id)
        if groupcall is None or groupcall.status == "hangup":
            return
        calls = [self.calls[c] for c in groupcall.call_ids]
        if groupcall.answer_call_id == call.id or all(c.ended for c in calls):
            self._end_groupcall(groupcall, at)

    def _end_groupcall(self, groupcall: Groupcall, at: int) -> None:
        groupcall.move("hangingup", at)
        groupcall.move("hangup", at)

    def hangup_groupcall(self, groupcall: Groupcall) -> None:
        """``POST /groupcalls/{id}/hangup``: ``hangingup`` now, ``hangup`` (calls cancelled) shortly after."""
        if groupcall.status != "progressing":
            return
        now = self.clock.now_us()
        groupcall.move("hangingup", now)
        transfer = self.transfers.get(groupcall.transfer_id)
        if transfer is not None:
            transfer.generation += 1
        for call_id in groupcall.call_ids:
            call = self.calls[call_id]
            if call.status in ("dialing", "ringing"):
                call.move("canceling", now, "cancel", "local")

        def finish(at: int) -> None:
            for call_id in groupcall.call_ids:
                call = self.calls[call_id]
                call.move("hangup", at, "normal" if call.status == "progressing" else "cancel", "local")
            groupcall.move("hangup", at)

        self.scheduler.at(now + seconds_to_us(self.config.groupcall_hangingup_s), finish)

    def force_outcome(self, transfer: VoipbinTransfer, outcome: str, delay_s: float) -> None:
        """Override the planned outcome (``completed`` = answered and, if attended, transferer hung up)."""
        groupcall = self.groupcalls[transfer.groupcall_id]
        transferer = self.calls[transfer.transferer_call_id]
        when = self.clock.now_us() + seconds_to_us(delay_s)
        status = self.derived_status(transfer)
        if status != "active":
            raise TransferConflict(f"transfer {transfer.id} is already {status}")
        if groupcall.answer_call_id == NIL_UUID and groupcall.status == "progressing":
            transfer.generation += 1
            self._schedule_resolution(transfer, when, outcome == COMPLETED, force_complete=True)
        elif outcome == COMPLETED:
            self.scheduler.at(when, lambda at: self._end_call(transferer, at, immediate=True))
        else:
            raise TransferConflict(f"transfer {transfer.id} was answered; it can only complete now")

    def derived_status(self, transfer: VoipbinTransfer) -> str:
        """The status a client should derive (the platform's own transfer-manager rules)."""
        groupcall = self.groupcalls[transfer.groupcall_id]
        answered = groupcall.answer_call_id != NIL_UUID
        if groupcall.status == "hangup" and not answered:
            return FAILED
        if transfer.type == "blind":
            return COMPLETED if answered else "active"
        if self.calls[transfer.transferer_call_id].status == "hangup":
            # Unanswered: the transfer manager terminates the conference bridge (TransfererHangup).
            return COMPLETED if answered else FAILED
        # The transferee hung up during the consultation: the agent is back with the caller.
        return FAILED if groupcall.status == "hangup" else "active"

    # Rendering

    def _time(self, us: int | None, out: dict[str, Any], key: str) -> None:
        if us is not None:
            out[key] = voipbin_time(us)
        elif self.config.deleted_style == "null":
            out[key] = None
        elif self.config.deleted_style == "sentinel":
            out[key] = SENTINEL_TIME

    def render_call(self, call: Call) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": call.id,
            "customer_id": call.customer_id,
            "owner_type": "",
            "owner_id": NIL_UUID,
            "flow_id": NIL_UUID,
            "activeflow_id": NIL_UUID,
            "type": "flow",
            "master_call_id": call.master_call_id,
            "chained_call_ids": list(call.chained_call_ids),
            "recording_id": NIL_UUID,
            "recording_ids": [],
            "groupcall_id": call.groupcall_id,
            "source": call.source,
            "destination": call.destination,
            "status": call.status,
            "direction": call.direction,
            "mute_direction": "",
            "hangup_by": call.hangup_by,
            "hangup_reason": call.hangup_reason,
            "metadata": None,
        }
        self._time(call.tm_progressing, out, "tm_progressing")
        self._time(call.tm_ringing, out, "tm_ringing")
        self._time(call.tm_hangup, out, "tm_hangup")
        out["tm_create"] = voipbin_time(call.tm_create)
        out["tm_update"] = voipbin_time(call.tm_update)
        self._time(None, out, "tm_delete")
        return out

    def render_groupcall(self, groupcall: Groupcall) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": groupcall.id,
            "customer_id": groupcall.customer_id,
            "owner_type": "",
            "owner_id": NIL_UUID,
            "status": groupcall.status,
            "flow_id": NIL_UUID,
            "source": groupcall.source,
            "destinations": groupcall.destinations,
            "master_call_id": groupcall.master_call_id,
            "master_groupcall_id": NIL_UUID,
            "ring_method": "ring_all",
            "answer_method": "hangup_others",
            "answer_call_id": groupcall.answer_call_id,
            "call_ids": list(groupcall.call_ids),
            "answer_groupcall_id": NIL_UUID,
            "groupcall_ids": [],
            "call_count": sum(1 for c in groupcall.call_ids if not self.calls[c].ended),
            "groupcall_count": 0,
            "dial_index": 0,
            "tm_create": voipbin_time(groupcall.tm_create),
            "tm_update": voipbin_time(groupcall.tm_update),
        }
        self._time(None, out, "tm_delete")
        return out

    def render_transfer(self, transfer: VoipbinTransfer) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": transfer.id,
            "customer_id": transfer.customer_id,
            "type": transfer.type,
            "transferer_call_id": transfer.transferer_call_id,
            "transferee_addresses": transfer.transferee_addresses,
            "transferee_call_id": transfer.transferee_call_id,
            "groupcall_id": transfer.groupcall_id,
            "confbridge_id": transfer.confbridge_id,
            "tm_create": voipbin_time(transfer.tm_create),
            "tm_update": voipbin_time(transfer.tm_update),
        }
        self._time(None, out, "tm_delete")
        return out
