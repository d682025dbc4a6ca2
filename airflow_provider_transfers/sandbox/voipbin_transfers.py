"""VoIPbin's transfer manager in the sandbox, and the ground truth the scenario tests compare the hooks with.

The transfer manager follows ``bin-transfer-manager/pkg/transferhandler/`` in ``voipbin/monorepo`` at commit
``2bf22fa4e87d077a69442aa02f74b0c18e2915dd``:

* ``transfer.go:22-77``: the transferer call must be in a conference (a call that is not answered, or has
  hung up, is in none), then a temporary flow whose only action joins that conference (``transfer.go:79-104``);
  an unknown ``transfer_type`` is refused after that (``transfer.go:44-45``). Every refusal is a 500;
* **blind**: the agent's call is hung up *first* (``blind.go:90-95``), then the groupcall is created
  (``blind.go:102-121``): a groupcall that cannot be created is refused *after* the agent is gone. An answer
  sets ``transferee_call_id`` (``transferee.go:111-135``); the groupcall hanging up unanswered terminates the
  customer's conference (``transferee.go:37-59``);
* **attended**: an answer does nothing (``transferee.go:137-142``). The agent hanging up hands the customer over
  when the groupcall has an answer (``transferer.go:70-83``, setting ``transferee_call_id``) and terminates the
  conference when it has none (``transferer.go:58-68``); the groupcall hanging up unanswered puts the agent back
  with the customer (``transferee.go:61-88``);
* groupcall and call events reach it only for the transfer's own groupcall and transferer call
  (``subscribehandler/callmanager.go:14-96``): a nested groupcall's events are not a transfer's.

The ground truth answers "did the customer end up with the transferee?" and is decided once, at the event
that settles it (:meth:`TransferManager.decide`), from what happened to the calls, not from what the transfer
manager recorded: the customer hanging up, an agent whose call was the customer's master, an answer through a
nested groupcall, a groupcall left with nobody to answer. The hooks' derivation reads only what a client can.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_transfers.sandbox.clock import seconds_to_us
from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.ids import NIL_UUID, IdFactory
from airflow_provider_transfers.sandbox.lifecycle import COMPLETED, FAILED, OutcomePlanner, Plan
from airflow_provider_transfers.sandbox.scheduler import Scheduler
from airflow_provider_transfers.sandbox.voipbin_calls import (
    Call,
    CallManager,
    Groupcall,
    GroupcallRefused,
    Stamps,
)

ACTIVE = "active"
TRANSFER_TYPES = ("attended", "blind")
EVENTS = ("answer", "no_answer", "transferee_hangup", "transferer_hangup", "caller_hangup", "cancel")
"""Control-API events (``POST /_sandbox/transfers/{id}/events``)."""


class TransferRefused(Exception):
    """The transfer manager refused: the API answers a 500 (``listenhandler/v1_transfers.go:28-32``)."""


class TransferConflict(Exception):
    """The requested outcome or event can no longer happen."""


@dataclass
class VoipbinTransfer:
    id: str
    customer_id: str
    type: str
    transferer_call_id: str
    caller_call_id: str
    """The customer's call: the agent call's master, or the call chained to the agent's (nil when neither)."""
    transferee_addresses: list[dict[str, Any]]
    groupcall_id: str
    confbridge_id: str
    tm_create: int
    last_body: dict[str, Any]
    member_ids: list[str]
    """Per transferee address, the call or nested groupcall that rings it (for ``answer`` of one address)."""
    transferee_call_id: str = NIL_UUID
    tm_update: int | None = None
    auto_complete_after_s: float | None = None
    generation: int = 0
    outcome: str | None = None
    """Ground truth, set once by the event that decides it (never changed afterwards)."""
    decided_by: str = ""
    history: list[tuple[str, str]] = field(default_factory=list)
    """(event, ground truth after it), for the scenario tests."""


@dataclass
class TransferManager:
    config: SandboxConfig
    stamps: Stamps
    scheduler: Scheduler
    ids: IdFactory
    planner: OutcomePlanner
    calls: CallManager = field(init=False)
    transfers: dict[str, VoipbinTransfer] = field(default_factory=dict)
    by_groupcall: dict[str, str] = field(default_factory=dict)
    by_transferer: dict[str, str] = field(default_factory=dict)
    by_caller: dict[str, list[str]] = field(default_factory=dict)

    def attach(self, calls: CallManager) -> None:
        self.calls = calls

    # ------------------------------------------------------------------ transfers

    def refusal(self, call: Call) -> str | None:
        """Why ``transferInit`` refuses ``call`` (``transfer.go:50-77``), or ``None``. A call that is not
        answered is in no conference; one that hung up has left it (``confbridgehandler/leaved.go:44``)."""
        if call.confbridge_id == NIL_UUID or call.status != "progressing":
            return "no confbridge id found"
        return None

    def create(
        self,
        customer_id: str,
        transfer_type: str,
        transferer: Call,
        addresses: list[dict[str, Any]],
        body: dict[str, Any],
        plan: Plan,
        auto_complete_after_s: float | None = None,
    ) -> VoipbinTransfer:
        """``ServiceStart`` (``transfer.go:22-47``); raises :class:`TransferRefused` as the 500 it becomes."""
        refusal = self.refusal(transferer)
        if refusal is not None:
            raise TransferRefused(refusal)
        if transfer_type not in TRANSFER_TYPES:
            raise TransferRefused(f"transfer type not found. transfer_type: {transfer_type}")
        flow_id = self.ids.uuid()
        conference = transferer.confbridge_id
        if transfer_type == "blind":
            self.calls.no_auto_leave.add(conference)  # blind.go:48-63
            self.calls.hanging_up(transferer, self.stamps(), delay_s=0)  # blind.go:90-95
        try:
            groupcall, pending = self.calls.start(
                customer_id, flow_id, transferer.source, addresses, transferer.master_call_id
            )
        except GroupcallRefused as exc:
            self.calls.no_auto_leave.discard(conference)  # blind.go:37-41
            raise TransferRefused(f"could not create groupcall: {exc}") from None
        transfer = VoipbinTransfer(
            id=self.ids.uuid(),
            customer_id=customer_id,
            type=transfer_type,
            transferer_call_id=transferer.id,
            caller_call_id=self._customer_of(transferer),
            transferee_addresses=[dict(a) for a in addresses],
            groupcall_id=groupcall.id,
            confbridge_id=transferer.confbridge_id,
            tm_create=groupcall.tm_create,
            last_body=dict(body),
            member_ids=[p.id for p in pending][: len(addresses)],
            auto_complete_after_s=auto_complete_after_s,
        )
        self._register(transfer)
        if transferer.master_call_id == NIL_UUID and transferer.chained_call_ids:
            self.decide(
                transfer,
                FAILED,
                "the customer's call is chained to the agent's: hanging the agent up hangs the customer up with it "
                "(callhandler/hangup.go:89-101), so no hand-over can happen",
            )
        self.calls.dial(pending)  # start.go:135-161: the members are created after Start returned
        now = self.stamps()
        ring_at = now + min(seconds_to_us(self.config.ring_delay_s), plan.delay_us // 2)
        self.scheduler.at(ring_at, lambda at: self.calls.ring(groupcall, at))
        self._schedule_resolution(transfer, now + plan.delay_us, plan.success, force_complete=False)
        return transfer

    def _customer_of(self, transferer: Call) -> str:
        if transferer.master_call_id != NIL_UUID:
            return transferer.master_call_id
        return transferer.chained_call_ids[0] if transferer.chained_call_ids else NIL_UUID

    def _register(self, transfer: VoipbinTransfer) -> None:
        self.transfers[transfer.id] = transfer
        self.by_groupcall[transfer.groupcall_id] = transfer.id
        self.by_transferer[transfer.transferer_call_id] = transfer.id
        if transfer.caller_call_id != NIL_UUID:
            self.by_caller.setdefault(transfer.caller_call_id, []).append(transfer.id)

    def groupcall(self, transfer: VoipbinTransfer) -> Groupcall:
        return self.calls.groupcalls[transfer.groupcall_id]

    def _transfer_of(self, groupcall: Groupcall | None) -> VoipbinTransfer | None:
        """The transfer whose (top) groupcall this is, directly or as its master."""
        while groupcall is not None and groupcall.id not in self.by_groupcall:
            groupcall = self.calls.groupcalls.get(groupcall.master_groupcall_id)
        return None if groupcall is None else self.transfers[self.by_groupcall[groupcall.id]]

    def _caller_up(self, transfer: VoipbinTransfer) -> bool:
        caller = self.calls.calls.get(transfer.caller_call_id)
        return caller is None or not caller.ended

    def nested_answer(self, transfer: VoipbinTransfer) -> Call | None:
        for nested_id in self.groupcall(transfer).groupcall_ids:
            nested = self.calls.groupcalls.get(nested_id)
            if nested is not None and nested.answer_call_id != NIL_UUID:
                return self.calls.calls[nested.answer_call_id]
        return None

    # ------------------------------------------------------------------ ground truth

    def decide(self, transfer: VoipbinTransfer, outcome: str, why: str) -> None:
        if transfer.outcome is None:
            transfer.outcome = outcome
            transfer.decided_by = why

    def derived_status(self, transfer: VoipbinTransfer) -> str:
        """Ground truth: did the customer end up with the transferee? (``active`` until decided)."""
        return transfer.outcome or ACTIVE

    def _set_transferee(self, transfer: VoipbinTransfer, call_id: str, at: int) -> None:
        transfer.transferee_call_id = call_id
        transfer.tm_update = at

    # ------------------------------------------------------------------ call manager events

    def call_answered(self, call: Call, at: int) -> None:
        """A transferee picked up: the transfer's flow joins it to the customer's conference."""
        transfer = self._transfer_of(self.calls.groupcalls.get(call.groupcall))
        if transfer is None:
            return
        call.confbridge_id = transfer.confbridge_id
        if transfer.type != "blind":
            return  # attended: the agent consults the transferee, the customer on hold (attended.go:47-84)
        nested = call.groupcall != transfer.groupcall_id
        if not self._caller_up(transfer):
            self.decide(transfer, FAILED, "a transferee answered after the customer had left")
        elif nested:
            self.decide(
                transfer,
                COMPLETED,
                "a transferee answered through a nested groupcall (an agent or extension address) and joined the "
                "customer's conference; the transfer manager never hears of it (groupcallhandler/answer.go:69-82)",
            )
        else:
            self.decide(transfer, COMPLETED, "a transferee answered the blind transfer (transferee.go:111-135)")

    def groupcall_answered(self, groupcall: Groupcall, at: int) -> None:
        """``TransfereeAnswer`` (``transferee.go:90-142``): only blind transfers act on it."""
        transfer = self.transfers.get(self.by_groupcall.get(groupcall.id, ""))
        if transfer is not None and transfer.type == "blind":
            self.calls.no_auto_leave.discard(transfer.confbridge_id)  # transferee.go:118-120
            self._set_transferee(transfer, groupcall.answer_call_id, at)

    def call_hungup(self, call: Call, at: int) -> None:
        for caller_of in self.by_caller.get(call.id, []):
            self.decide(self.transfers[caller_of], FAILED, "the customer hung up before the hand-over")
        transferer_of = self.by_transferer.get(call.id)
        if transferer_of is not None:
            self._transferer_hungup(self.transfers[transferer_of], at)
        transfer = self._transfer_of(self.calls.groupcalls.get(call.groupcall))
        if transfer is not None and transfer.type == "attended" and call.id == self.groupcall(transfer).answer_call_id:
            self.decide(transfer, FAILED, "the transferee left during the consultation")

    def _transferer_hungup(self, transfer: VoipbinTransfer, at: int) -> None:
        """``TransfererHangup`` (``transferer.go:16-83``); blind: nothing (the agent was hung up on purpose)."""
        if transfer.type != "attended":
            return
        groupcall = self.groupcall(transfer)
        if groupcall.answer_call_id == NIL_UUID:
            self.decide(transfer, FAILED, "the agent hung up before anyone answered the transfer's groupcall")
            self.calls.terminate_conference(transfer.confbridge_id, at)  # transferer.go:58-68
            return
        self._set_transferee(transfer, groupcall.answer_call_id, at)  # transferer.go:70-75
        if self.calls.calls[groupcall.answer_call_id].ended:
            self.decide(transfer, FAILED, "the transferee left before the agent hung up")
        elif not self._caller_up(transfer):
            self.decide(transfer, FAILED, "the customer had left before the agent hung up")
        else:
            self.decide(transfer, COMPLETED, "the agent hung up while the transferee and the customer were on the line")

    def groupcall_counted(self, groupcall: Groupcall, at: int) -> None:
        """A member ended: with nobody left to answer and no answer, the transfer cannot complete any more,
        even when the groupcall itself never hangs up (a failed member, ``start.go:150-157``)."""
        transfer = self.transfers.get(self.by_groupcall.get(groupcall.id, ""))
        if transfer is None or groupcall.answer_call_id != NIL_UUID or groupcall.members_left > 0:
            return
        if transfer.type == "attended" or self.nested_answer(transfer) is None:
            self.decide(transfer, FAILED, "nobody is left to answer the transfer's groupcall")

    def groupcall_hungup(self, groupcall: Groupcall, at: int) -> None:
        """``TransfereeHangup`` (``transferee.go:16-88``)."""
        transfer = self.transfers.get(self.by_groupcall.get(groupcall.id, ""))
        if transfer is None or transfer.transferee_call_id != NIL_UUID:
            return
        if transfer.type == "blind":
            self.calls.terminate_conference(transfer.confbridge_id, at)  # transferee.go:50-56
        # attended: attendedUnblock puts the agent back with the customer (transferee.go:74-85)

    # ------------------------------------------------------------------ planned outcomes

    def _schedule_resolution(self, transfer: VoipbinTransfer, when: int, success: bool, force_complete: bool) -> None:
        generation = transfer.generation

        def resolve(at: int) -> None:
            if transfer.generation == generation:
                self._resolve(transfer, at, success, force_complete)

        self.scheduler.at(when, resolve)

    def _resolve(self, transfer: VoipbinTransfer, at: int, success: bool, force_complete: bool) -> None:
        """The planned outcome: someone answers (and, if forced or configured, the agent hangs up), or nobody."""
        groupcall = self.groupcall(transfer)
        if groupcall.status != "progressing" or groupcall.answer_call_id != NIL_UUID:
            return
        if not success:
            self.calls.no_answer(groupcall)
            return
        if not self._answer(transfer, None):
            return
        transferer = self.calls.calls[transfer.transferer_call_id]
        if transfer.type == "attended":
            if force_complete:
                self.calls.remote_hangup(transferer)
            elif transfer.auto_complete_after_s is not None:
                delay = seconds_to_us(transfer.auto_complete_after_s)
                self.scheduler.at(self.stamps.last + delay, lambda when: self.calls.remote_hangup(transferer, when))

    def _answer(self, transfer: VoipbinTransfer, address: int | None) -> bool:
        """A member answers: the one ringing ``transferee_addresses[address]``, else one the planner picks among
        the top groupcall's own calls (then the nested ones)."""
        groupcall = self.groupcall(transfer)
        if address is not None:
            if not 0 <= address < len(transfer.member_ids):
                last = len(transfer.member_ids) - 1
                raise ValueError(f"address must be an index of transferee_addresses (0..{last})")
            member = transfer.member_ids[address]
            nested = self.calls.groupcalls.get(member)
            candidates = self.calls.live_members(nested) if nested is not None else [self.calls.calls.get(member)]
        else:
            own = [self.calls.calls.get(c) for c in groupcall.call_ids]
            candidates = [c for c in own if c is not None and not c.ended] or self.calls.live_members(groupcall)
        live = [c for c in candidates if c is not None and not c.ended and c.status != "progressing"]
        return bool(live) and self.calls.answer(self.planner.choice(live))

    # ------------------------------------------------------------------ control

    def event(self, transfer: VoipbinTransfer, name: str, address: int | None = None) -> None:
        """Drive one lifecycle event now (control API): see :data:`EVENTS`."""
        groupcall = self.groupcall(transfer)
        if name == "answer":
            transfer.generation += 1
            if not self._answer(transfer, address):
                raise TransferConflict("nobody is ringing there: the groupcall is answered, ending or empty")
        elif name == "no_answer":
            if groupcall.answer_call_id != NIL_UUID or not self.calls.live_members(groupcall):
                raise TransferConflict("nobody is ringing: the groupcall is answered or has no member left")
            transfer.generation += 1
            self.calls.no_answer(groupcall)
        elif name == "transferee_hangup":
            answer = self._answered_transferee(transfer)
            if answer is None:
                raise TransferConflict("no answered transferee call is up")
            self.calls.remote_hangup(answer)
        elif name == "transferer_hangup":
            self._hang_up_party(transfer.transferer_call_id, "the transferer call has hung up already")
        elif name == "caller_hangup":
            self._hang_up_party(transfer.caller_call_id, "the customer's call has hung up already (or is unknown)")
        elif name == "cancel":
            transfer.generation += 1
            self.calls.hangingup(groupcall)
        else:
            raise ValueError(f"event must be one of {', '.join(EVENTS)}")

    def _answered_transferee(self, transfer: VoipbinTransfer) -> Call | None:
        groupcall = self.groupcall(transfer)
        answer = self.calls.calls.get(groupcall.answer_call_id) or self.nested_answer(transfer)
        return answer if answer is not None and not answer.ended else None

    def _hang_up_party(self, call_id: str, gone: str) -> None:
        call = self.calls.calls.get(call_id)
        if call is None or call.ended:
            raise TransferConflict(gone)
        self.calls.remote_hangup(call)

    def record(self, transfer: VoipbinTransfer, label: str) -> None:
        transfer.history.append((label, self.derived_status(transfer)))

    def force_outcome(self, transfer: VoipbinTransfer, outcome: str, delay_s: float, now_us: int) -> None:
        """Override the planned outcome. ``completed`` = answered and, if attended, the agent hung up;
        ``failed`` = nobody answers, or (attended, answered) the transferee leaves."""
        groupcall = self.groupcall(transfer)
        transferer = self.calls.calls[transfer.transferer_call_id]
        when = now_us + seconds_to_us(delay_s)
        status = self.derived_status(transfer)
        if status != ACTIVE:
            raise TransferConflict(f"transfer {transfer.id} is already {status}")
        if groupcall.answer_call_id == NIL_UUID and groupcall.status == "progressing":
            transfer.generation += 1
            self._schedule_resolution(transfer, when, outcome == COMPLETED, force_complete=True)
        elif groupcall.answer_call_id == NIL_UUID:
            raise TransferConflict(f"transfer {transfer.id} is being cancelled; it can only fail now")
        elif outcome == COMPLETED:
            self.scheduler.at(when, lambda at: self.calls.remote_hangup(transferer, at))
        else:
            answer = self.calls.calls[groupcall.answer_call_id]
            self.scheduler.at(when, lambda at: self.calls.remote_hangup(answer, at))
