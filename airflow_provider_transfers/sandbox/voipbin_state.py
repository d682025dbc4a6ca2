"""VoIPbin resources (calls, groupcalls, transfers) and the transfer lifecycle, as the server does it today.

VoIPbin has no transfer status; clients derive it from the groupcall and the transferer call. The
sandbox therefore models those resources after the server's source (``voipbin/monorepo`` at commit
``2bf22fa4e87d077a69442aa02f74b0c18e2915dd``; paths below are relative to it):

* a transfer starts from an agent call bridged to a caller in a conference. The groupcall and the
  transferee calls carry the agent call's own ``master_call_id`` (the caller's call):
  ``bin-transfer-manager/pkg/transferhandler/attended.go:132-145``, ``blind.go:103-116``;
* **blind**: the agent's call is hung up *first* (``blind.go:90-95``), then the groupcall is created.
  An answer bridges the transferee to the caller and sets the transfer's ``transferee_call_id``
  (``transferee.go:111-135``); nobody answering tears the caller's conference down
  (``transferee.go:45-58``): the caller's call hangs up;
* **attended**: an answer only sets the groupcall's ``answer_call_id`` (``transferee.go:137-142``). The
  agent hanging up completes the transfer (``transferer.go:70-80``: ``transferee_call_id`` is set);
  hanging up *before* an answer terminates the caller's conference and leaves the groupcall ringing
  (``transferer.go:58-68``), and a later answer is ignored; the transferee leaving during the
  consultation puts the agent back with the caller (``transferee.go:62-88``);
* a new transfer's ``transferee_call_id`` is the nil UUID and its ``tm_update`` unset (``null``) until
  the transfer manager updates it (``transfer.go``, ``db.go``).

The ground truth (:meth:`VoipbinStore.derived_status`) answers "did the caller end up with the
transferee?" and is recorded at the event that decides it, independently of the timestamp reading the
hooks do (``voipbin_status``): the scenario tests compare the two.

Rendering follows the two wire forms (``SandboxConfig.voipbin_wire``): ``current`` (RFC 3339, Go
``omitempty``: ``bin-call-manager/models/call/webhook.go:17-54``, ``models/groupcall/webhook.go:14-44``,
``bin-transfer-manager/models/transfer/webhook.go:14-30``) and ``legacy`` (before February 2026:
``2006-01-02 15:04:05.000000`` strings, unset timestamps the ``9999-01-01`` sentinel of the database
layer, or ``deleted_style``).
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

ACTIVE = "active"
CALL_ORDER = {"dialing": 0, "ringing": 1, "progressing": 2, "terminating": 3, "canceling": 3, "hangup": 4}
GROUPCALL_ORDER = {"progressing": 0, "hangingup": 1, "hangup": 2}
TRANSFER_TYPES = ("attended", "blind")
ADDRESS_TYPES = ("agent", "conference", "email", "extension", "line", "sip", "tel", "web_session")
SENTINEL_TIME = "9999-01-01 00:00:00.000000"
CUSTOMER_SOURCE = {"type": "tel", "target": "+15550100001", "target_name": "", "name": "", "detail": ""}
AGENT_DESTINATION = {"type": "tel", "target": "+15550100002", "target_name": "", "name": "", "detail": ""}
EVENTS = ("answer", "no_answer", "transferee_hangup", "transferer_hangup", "cancel")
"""Control-API events (``POST /_sandbox/transfers/{id}/events``)."""
_GAP_US = 1_000
"""Two events of one step (an answer, then the agent's hang-up) are this far apart, so that they stay
ordered in timestamps rounded to milliseconds."""


def address_out(address: dict[str, Any]) -> dict[str, Any]:
    """``CommonAddress`` as Go marshals it: every field ``omitempty``
    (bin-common-handler/models/address/main.go:5-9)."""
    return {k: address[k] for k in ("type", "target", "target_name", "name", "detail") if address.get(k)}


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
    flow_id: str = NIL_UUID
    action_id: str = NIL_UUID
    confbridge_id: str = NIL_UUID
    """Internal: the conference the call is in (not rendered: the API's call has no such field)."""
    groupcall: str = NIL_UUID
    """Internal: the groupcall the call belongs to (rendered ``groupcall_id`` is always the nil UUID)."""
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
    flow_id: str
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
    caller_call_id: str
    transferee_addresses: list[dict[str, Any]]
    groupcall_id: str
    confbridge_id: str
    tm_create: int
    last_body: dict[str, Any]
    transferee_call_id: str = NIL_UUID
    tm_update: int | None = None
    auto_complete_after_s: float | None = None
    generation: int = 0
    outcome: str | None = None
    """Ground truth, set once by the event that decides it (never changed afterwards)."""
    decided_by: str = ""
    history: list[tuple[str, str]] = field(default_factory=list)
    """(event, ground truth after it), for the scenario tests."""


class TransferConflict(Exception):
    """The requested outcome or event can no longer happen."""


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
    by_transferer: dict[str, str] = field(default_factory=dict)
    """Attended transfers by transferer call id (the transfer manager's ``GetByTransfererCallID``)."""
    _last_stamp: int = 0

    def _stamp(self, at: int | None = None) -> int:
        """``at`` (default now), but strictly after every earlier stamp: events stay ordered and
        ``tm_create`` stays a unique pagination cursor."""
        self._last_stamp = max(self.clock.now_us() if at is None else at, self._last_stamp + 1)
        return self._last_stamp

    @property
    def legacy(self) -> bool:
        return self.config.voipbin_wire == "legacy"

    # ------------------------------------------------------------------ calls

    def _new_call(
        self,
        customer_id: str,
        status: str,
        direction: str,
        source: dict[str, Any],
        dest: dict[str, Any],
        at: int | None = None,
    ) -> Call:
        now = self._stamp(at)
        call = Call(self.ids.uuid(), customer_id, status, direction, dict(source), dict(dest), now, now)
        call.flow_id = self.ids.uuid()
        call.action_id = self.ids.uuid()
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
        """An agent call bridged to a caller's call in a conference, as a transfer starts from.

        The caller's call is the master call (``master_call_id`` of the agent call); only an answered
        (``progressing``) pair is in a conference.
        """
        customer = self._new_call(customer_id, status, "incoming", CUSTOMER_SOURCE, AGENT_DESTINATION)
        agent = self._new_call(customer_id, status, "outgoing", CUSTOMER_SOURCE, AGENT_DESTINATION)
        customer.chained_call_ids.append(agent.id)
        agent.master_call_id = customer.id
        if status == "progressing":
            confbridge = self.ids.uuid()
            customer.confbridge_id = agent.confbridge_id = confbridge
        return agent

    def refusal(self, call: Call) -> str | None:
        """Why the transfer manager would refuse a transfer from ``call`` (a 500 on the API), or ``None``.

        ``transferhandler/transfer.go:63-66`` needs a conference; a call that is not answered is in none.
        """
        if call.confbridge_id == NIL_UUID:
            return "the transferer call is not in a conference"
        if call.status != "progressing":
            return f"the transferer call is {call.status}"
        return None

    # ------------------------------------------------------------------ transfers

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
        if transfer_type == "blind":
            # blind.go:90-95: the agent's call is hung up before the groupcall exists.
            self._end_call(transferer, self._stamp(), immediate=True)
        transfer_id = self.ids.uuid()
        groupcall_id = self.ids.uuid()
        master = transferer.master_call_id
        calls = [
            self._new_call(customer_id, "dialing", "outgoing", transferer.source, address) for address in addresses
        ]
        for call in calls:
            call.groupcall = groupcall_id
            call.master_call_id = master
        now = self._stamp()
        groupcall = Groupcall(
            id=groupcall_id,
            customer_id=customer_id,
            flow_id=calls[0].flow_id if calls else self.ids.uuid(),
            source=dict(transferer.source),
            destinations=[dict(a) for a in addresses],
            master_call_id=master,
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
            caller_call_id=master,
            transferee_addresses=[dict(a) for a in addresses],
            groupcall_id=groupcall_id,
            confbridge_id=transferer.confbridge_id,
            tm_create=now,
            last_body=dict(body),
            auto_complete_after_s=auto_complete_after_s,
        )
        self.transfers[transfer_id] = transfer
        if transfer_type == "attended":
            self.by_transferer[transferer.id] = transfer_id
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
        """The planned outcome: someone answers (and, if forced or configured, the agent hangs up), or nobody."""
        groupcall = self.groupcalls[transfer.groupcall_id]
        if groupcall.status != "progressing" or groupcall.answer_call_id != NIL_UUID:
            return
        if not success:
            self._no_answer(groupcall, at)
            return
        if not self._answer(groupcall, at):
            return
        transferer = self.calls[transfer.transferer_call_id]
        if transfer.type == "attended":
            if force_complete:
                self._end_call(transferer, self._last_stamp + _GAP_US, immediate=True)
            elif transfer.auto_complete_after_s is not None:
                self.scheduler.at(
                    at + seconds_to_us(transfer.auto_complete_after_s),
                    lambda when: self._end_call(transferer, when, immediate=True),
                )

    def _answer(self, groupcall: Groupcall, at: int) -> bool:
        """One ringing transferee call answers; the others are hung up (``answer_method: hangup_others``)."""
        live = [self.calls[c] for c in groupcall.call_ids if not self.calls[c].ended]
        if groupcall.status != "progressing" or groupcall.answer_call_id != NIL_UUID or not live:
            return False
        at = self._stamp(at)
        answered = self.planner.choice(live)
        answered.move("ringing", at)
        answered.move("progressing", at)
        groupcall.answer_call_id = answered.id
        groupcall.tm_update = at
        for call in live:
            if call is not answered:
                call.move("hangup", at, "cancel", "local")
        transfer = self.transfers.get(groupcall.transfer_id)
        if transfer is not None:
            self._on_answer(transfer, answered, at)
        return True

    def _no_answer(self, groupcall: Groupcall, at: int) -> None:
        at = self._stamp(at)
        for call in [self.calls[c] for c in groupcall.call_ids if not self.calls[c].ended]:
            reason = "busy" if self.planner.chance(0.25) else "noanswer"
            call.move("hangup", at, reason, "remote")
        self._end_groupcall(groupcall, at)

    # ------------------------------------------------------------------ hang-ups

    def hangup_call(self, call: Call) -> None:
        """``POST /calls/{id}/hangup``: ``terminating``/``canceling`` now, ``hangup`` after the configured delay."""
        self._end_call(call, self._stamp(), immediate=False)

    def _end_call(self, call: Call, at: int, immediate: bool) -> None:
        if call.ended:
            return
        at = self._stamp(at)
        ringing = call.status in ("dialing", "ringing")
        call.move("canceling" if ringing else "terminating", at, "cancel" if ringing else "normal", "local")
        if immediate:
            self._finish_call(call, at)
        else:
            delay = seconds_to_us(self.config.call_hangup_delay_s)
            self.scheduler.at(at + delay, lambda when: self._finish_call(call, when))

    def _finish_call(self, call: Call, at: int) -> None:
        if not call.move("hangup", self._stamp(at)):
            return
        at = call.tm_hangup or at
        transfer_id = self.by_transferer.get(call.id)
        if transfer_id is not None:
            self._on_transferer_hangup(self.transfers[transfer_id], at)
        groupcall = self.groupcalls.get(call.groupcall)
        if groupcall is None or groupcall.status == "hangup":
            return
        calls = [self.calls[c] for c in groupcall.call_ids]
        if groupcall.answer_call_id == call.id or all(c.ended for c in calls):
            # groupcallhandler/hangup.go:138-157: no call left, the groupcall hangs up.
            self._end_groupcall(groupcall, at)

    def _end_groupcall(self, groupcall: Groupcall, at: int) -> None:
        groupcall.move("hangingup", at)
        groupcall.move("hangup", at)
        transfer = self.transfers.get(groupcall.transfer_id)
        if transfer is not None:
            self._on_groupcall_hangup(transfer, groupcall, at)

    def hangup_groupcall(self, groupcall: Groupcall) -> None:
        """``POST /groupcalls/{id}/hangup``: ``hangingup`` now, ``hangup`` (calls ended) shortly after."""
        if groupcall.status != "progressing":
            return
        now = self._stamp()
        groupcall.move("hangingup", now)
        transfer = self.transfers.get(groupcall.transfer_id)
        if transfer is not None:
            transfer.generation += 1
        for call_id in groupcall.call_ids:
            call = self.calls[call_id]
            if call.status in ("dialing", "ringing"):
                call.move("canceling", now, "cancel", "local")
            elif call.status == "progressing":
                call.move("terminating", now, "normal", "local")

        def finish(at: int) -> None:
            at = self._stamp(at)
            for call_id in groupcall.call_ids:
                call = self.calls[call_id]
                call.move("hangup", at, "normal" if call.status == "terminating" else "cancel", "local")
            if groupcall.status != "hangup":
                self._end_groupcall(groupcall, at)

        self.scheduler.at(now + seconds_to_us(self.config.groupcall_hangingup_s), finish)

    # ------------------------------------------------------------------ the transfer manager

    def _decide(self, transfer: VoipbinTransfer, outcome: str, why: str) -> None:
        if transfer.outcome is None:
            transfer.outcome = outcome
            transfer.decided_by = why

    def _set_transferee(self, transfer: VoipbinTransfer, call_id: str, at: int) -> None:
        transfer.transferee_call_id = call_id
        transfer.tm_update = at

    def _on_answer(self, transfer: VoipbinTransfer, answered: Call, at: int) -> None:
        if transfer.type == "blind":
            # transferee.go:111-135: the answering call is bridged to the caller.
            self._set_transferee(transfer, answered.id, at)
            self._decide(transfer, COMPLETED, "a transferee answered the blind transfer")
        # attended, transferee.go:137-142: nothing to do (and after the agent left, nobody to join).

    def _on_transferer_hangup(self, transfer: VoipbinTransfer, at: int) -> None:
        """transferer.go:45-83 (attended only: a blind transfer's agent is gone before it exists)."""
        groupcall = self.groupcalls[transfer.groupcall_id]
        if groupcall.answer_call_id == NIL_UUID:
            # transferer.go:58-68: terminate the caller's conference; the groupcall keeps ringing.
            self._hangup_caller(transfer, at)
            self._decide(transfer, FAILED, "the agent hung up before anyone answered")
            return
        self._set_transferee(transfer, groupcall.answer_call_id, at)
        answer = self.calls[groupcall.answer_call_id]
        if answer.ended:
            self._decide(transfer, FAILED, "the transferee left before the agent hung up")
        else:
            self._decide(transfer, COMPLETED, "the agent hung up while the transferee was on the line")

    def _on_groupcall_hangup(self, transfer: VoipbinTransfer, groupcall: Groupcall, at: int) -> None:
        if groupcall.answer_call_id == NIL_UUID:
            if transfer.type == "blind":
                # transferee.go:45-58: nobody answered: the caller's conference is terminated.
                self._hangup_caller(transfer, at)
            self._decide(transfer, FAILED, "nobody answered")
        elif transfer.type == "attended":
            # transferee.go:62-88: the transferee left during the consultation (or was hung up).
            self._decide(transfer, FAILED, "the transferee left during the consultation")

    def _hangup_caller(self, transfer: VoipbinTransfer, at: int) -> None:
        caller = self.calls.get(transfer.caller_call_id)
        if caller is not None and not caller.ended:
            caller.move("terminating", at, "normal", "local")
            caller.move("hangup", at)

    # ------------------------------------------------------------------ control

    def event(self, transfer: VoipbinTransfer, name: str) -> None:
        """Drive one lifecycle event now (control API): see :data:`EVENTS`."""
        groupcall = self.groupcalls[transfer.groupcall_id]
        transferer = self.calls[transfer.transferer_call_id]
        now = self._stamp()
        if name == "answer":
            transfer.generation += 1
            if not self._answer(groupcall, now):
                raise TransferConflict("nobody is ringing: the groupcall is answered or ending")
        elif name == "no_answer":
            if groupcall.status != "progressing" or groupcall.answer_call_id != NIL_UUID:
                raise TransferConflict("the groupcall is answered or ending")
            transfer.generation += 1
            self._no_answer(groupcall, now)
        elif name == "transferee_hangup":
            answer = self.calls.get(groupcall.answer_call_id)
            if answer is None or answer.ended:
                raise TransferConflict("no answered transferee call is up")
            self._end_call(answer, now, immediate=True)
        elif name == "transferer_hangup":
            if transferer.ended:
                raise TransferConflict("the transferer call has hung up already")
            self._end_call(transferer, now, immediate=True)
        elif name == "cancel":
            if groupcall.status != "progressing":
                raise TransferConflict("the groupcall is ending already")
            self.hangup_groupcall(groupcall)
        else:
            raise ValueError(f"event must be one of {', '.join(EVENTS)}")

    def record(self, transfer: VoipbinTransfer, label: str) -> None:
        transfer.history.append((label, self.derived_status(transfer)))

    def force_outcome(self, transfer: VoipbinTransfer, outcome: str, delay_s: float) -> None:
        """Override the planned outcome. ``completed`` = answered and, if attended, the agent hung up;
        ``failed`` = nobody answers, or (attended, answered) the transferee leaves."""
        groupcall = self.groupcalls[transfer.groupcall_id]
        transferer = self.calls[transfer.transferer_call_id]
        when = self.clock.now_us() + seconds_to_us(delay_s)
        status = self.derived_status(transfer)
        if status != ACTIVE:
            raise TransferConflict(f"transfer {transfer.id} is already {status}")
        if groupcall.answer_call_id == NIL_UUID and groupcall.status == "progressing":
            transfer.generation += 1
            self._schedule_resolution(transfer, when, outcome == COMPLETED, force_complete=True)
        elif groupcall.answer_call_id == NIL_UUID:
            raise TransferConflict(f"transfer {transfer.id} is being cancelled; it can only fail now")
        elif outcome == COMPLETED:
            self.scheduler.at(when, lambda at: self._end_call(transferer, at, immediate=True))
        else:
            answer = self.calls[groupcall.answer_call_id]
            self.scheduler.at(when, lambda at: self._end_call(answer, at, immediate=True))

    def derived_status(self, transfer: VoipbinTransfer) -> str:
        """Ground truth: did the caller end up with the transferee? (``active`` until decided)."""
        return transfer.outcome or ACTIVE

    # ------------------------------------------------------------------ rendering

    def _unset(self, out: dict[str, Any], key: str, *, nullable: bool) -> None:
        """An unset timestamp: today omitted (calls, groupcalls) or ``null`` (transfers); legacy per
        ``deleted_style`` (default: the database's ``9999-01-01`` sentinel)."""
        if not self.legacy:
            if nullable:
                out[key] = None
            return
        style = self.config.deleted_style
        if style == "sentinel":
            out[key] = SENTINEL_TIME
        elif style == "null":
            out[key] = None

    def _time(self, us: int | None, out: dict[str, Any], key: str, *, nullable: bool = False) -> None:
        if us is not None:
            out[key] = voipbin_time(us, self.legacy)
        else:
            self._unset(out, key, nullable=nullable)

    def render_call(self, call: Call) -> dict[str, Any]:
        """bin-call-manager/models/call/webhook.go:17-54 (key order and ``omitempty`` as there)."""
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
        self._time(call.tm_progressing, out, "tm_progressing")
        self._time(call.tm_ringing, out, "tm_ringing")
        self._time(call.tm_hangup, out, "tm_hangup")
        self._time(call.tm_create, out, "tm_create")
        self._time(call.tm_update, out, "tm_update")
        self._time(None, out, "tm_delete")
        return out

    def render_groupcall(self, groupcall: Groupcall) -> dict[str, Any]:
        """bin-call-manager/models/groupcall/webhook.go:14-44 (key order and ``omitempty`` as there)."""
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
            "master_groupcall_id": NIL_UUID,
            "ring_method": "ring_all",
            "answer_method": "hangup_others",
            "answer_call_id": groupcall.answer_call_id,
        }
        if groupcall.call_ids:
            out["call_ids"] = list(groupcall.call_ids)
        out["answer_groupcall_id"] = NIL_UUID
        live = sum(1 for c in groupcall.call_ids if not self.calls[c].ended)
        if live:
            out["call_count"] = live
        self._time(groupcall.tm_create, out, "tm_create")
        self._time(groupcall.tm_update, out, "tm_update")
        self._time(None, out, "tm_delete")
        return out

    def render_transfer(self, transfer: VoipbinTransfer) -> dict[str, Any]:
        """bin-transfer-manager/models/transfer/webhook.go:14-30: no ``omitempty``, unset times ``null``."""
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
        self._time(transfer.tm_create, out, "tm_create", nullable=True)
        self._time(transfer.tm_update, out, "tm_update", nullable=True)
        self._time(None, out, "tm_delete", nullable=True)
        return out
