"""VoIPbin's call manager in the sandbox: calls, chained calls, groupcalls (nested ones too) and their counts.

Modelled after ``bin-call-manager`` in ``voipbin/monorepo`` at commit ``2bf22fa4e87d077a69442aa02f74b0c18e2915dd``
(paths below are relative to ``bin-call-manager/pkg/``), including its awkward parts:

* **chained calls**: an outgoing call created with a master call joins the master's ``chained_call_ids`` and
  gets its ``master_call_id`` (``callhandler/outgoing_call.go:335-343``, ``callhandler/chained_call.go:14-69``;
  refused when the master is already ending, ``chained_call.go:29-35``). Hanging up a call hangs up its chained
  calls (``callhandler/hangup.go:89-101``);
* **groupcalls**: one destination is dialled directly (``groupcallhandler/start.go:102-110``); with several,
  ``agent`` and ``extension`` destinations become nested groupcalls whose ``master_groupcall_id`` is the top one
  (``start.go:112-147``, ``IsGroupcallTypeAddress`` at ``start.go:243-252``). An agent is dialled at its
  addresses, an extension at its registered contacts; any other type than tel/sip/agent/extension is an
  "unsupported address type" (``groupcallhandler/dial.go:140-176``);
* **answers**: the answering call's flow joins the transfer's conference (``callhandler/action.go:382``). A
  nested groupcall's answer never reaches the top groupcall (``groupcallhandler/answer.go:69-82`` passes the
  master *call* id where the master groupcall id belongs), so the top one keeps ringing its other members;
* **counts**: ``call_count``/``groupcall_count`` start at the number of members and drop as members end; the
  groupcall hangs up when both are at most 0 (``groupcallhandler/hangup.go:137-182``). A member call that
  cannot be created in a multi-destination ring-all decrements ``groupcall_count`` instead of ``call_count``
  (``start.go:150-157``), so ``call_count`` stays above 0 and the groupcall never hangs up by itself; the sum
  of the two counts still equals the members left;
* **late failures**: creating a member call fails, after ``POST /transfers`` answered, for a destination that
  is not tel/sip (``callhandler/outgoing_call.go:147-150``), for a tel destination of a customer whose identity
  is not verified (``callhandler/validate.go:137-151``) and for a customer without balance
  (``outgoing_call.go:176-180``). Such a call never exists (``GET /calls/{id}`` is a 404);
* **conferences**: a call leaving a conference is hung up, and a "connect" conference left with one call is
  terminated unless the no-auto-leave flag is set (``confbridgehandler/leaved.go:34-61``; a blind transfer
  sets it while ringing, ``bin-transfer-manager`` ``blind.go:48-63``, ``transferee.go:118``);
* **groupcall hang-up** (``POST /groupcalls/{id}/hangup``) sets ``hangingup`` whatever the status, even on an
  ended groupcall, and hangs up its members (``groupcallhandler/hangup.go:46-75``); only a member ending
  afterwards brings it to ``hangup``, so hanging up an ended groupcall leaves it ``hangingup`` for good.

Everything the transfer manager reacts to is reported through :class:`CallEvents`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_transfers.sandbox.clock import SandboxClock, seconds_to_us
from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.ids import NIL_UUID, IdFactory
from airflow_provider_transfers.sandbox.lifecycle import OutcomePlanner
from airflow_provider_transfers.sandbox.scheduler import Scheduler

CALL_ORDER = {"dialing": 0, "ringing": 1, "progressing": 2, "terminating": 3, "canceling": 3, "hangup": 4}
GROUPCALL_ORDER = {"progressing": 0, "hangingup": 1, "hangup": 2}
DIALABLE = ("tel", "sip")
NESTED = ("agent", "extension")
GAP_US = 1_000
"""Consecutive steps of one event (a hang-up and the chained hang-ups it causes) are this far apart, so that
they stay ordered even in timestamps rounded to milliseconds."""
SANDBOX_DOMAIN = "sandbox.voipbin.net"


class GroupcallRefused(Exception):
    """``groupcallhandler.Start`` failed before the groupcall existed (the transfer manager answers a 500)."""


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
    """Internal: the conference the call joined (rendered as its action's option)."""
    groupcall: str = NIL_UUID
    """Internal: the groupcall the call belongs to (the rendered ``groupcall_id`` is always the nil UUID)."""
    master_call_id: str = NIL_UUID
    chained_call_ids: list[str] = field(default_factory=list)
    hangup_by: str = ""
    hangup_reason: str = ""
    tm_ringing: int | None = None
    tm_progressing: int | None = None
    tm_hangup: int | None = None
    tm_delete: int | None = None

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
        """Hung up or on its way (``terminating``/``canceling``)."""
        return CALL_ORDER[self.status] >= CALL_ORDER["terminating"]


@dataclass
class Groupcall:
    id: str
    customer_id: str
    flow_id: str
    source: dict[str, Any]
    destinations: list[dict[str, Any]]
    master_call_id: str
    master_groupcall_id: str
    call_ids: list[str]
    groupcall_ids: list[str]
    tm_create: int
    tm_update: int
    call_count: int = 0
    groupcall_count: int = 0
    status: str = "progressing"
    answer_call_id: str = NIL_UUID

    def __post_init__(self) -> None:
        self.call_count = len(self.call_ids)
        self.groupcall_count = len(self.groupcall_ids)

    def set_status(self, status: str, at: int) -> None:
        """``UpdateStatus`` (``groupcallhandler/db.go:312-330``): any status, no check of the current one."""
        self.status = status
        self.tm_update = at

    @property
    def members_left(self) -> int:
        """Members not ended yet: the sum of the two counts stays exact even when the counts themselves do not."""
        return self.call_count + self.groupcall_count


class CallEvents(Protocol):
    """What the transfer manager (and the sandbox's ground truth) hears from the call manager."""

    def call_answered(self, call: Call, at: int) -> None: ...

    def call_hungup(self, call: Call, at: int) -> None: ...

    def groupcall_answered(self, groupcall: Groupcall, at: int) -> None: ...

    def groupcall_counted(self, groupcall: Groupcall, at: int) -> None: ...

    def groupcall_hungup(self, groupcall: Groupcall, at: int) -> None: ...


@dataclass
class Pending:
    """A member the groupcall still has to create (``Start`` creates members in goroutines, after it returns)."""

    id: str
    destination: dict[str, Any]
    groupcall: Groupcall
    nested: bool
    wrong_counter: bool
    """``start.go:150-157``: a failed member call of a multi-destination ring-all decrements ``groupcall_count``."""


@dataclass
class Stamps:
    """Sandbox time for events: never before an earlier stamp, so events stay ordered and ``tm_create`` stays a
    unique pagination cursor."""

    clock: SandboxClock
    last: int = 0

    def __call__(self, at: int | None = None, gap: int = 1) -> int:
        self.last = max(self.clock.now_us() if at is None else at, self.last + gap)
        return self.last


@dataclass
class CallManager:
    config: SandboxConfig
    stamps: Stamps
    scheduler: Scheduler
    ids: IdFactory
    planner: OutcomePlanner
    events: CallEvents
    add_to_timeline: Callable[[Any], None]
    calls: dict[str, Call] = field(default_factory=dict)
    groupcalls: dict[str, Groupcall] = field(default_factory=dict)
    no_auto_leave: set[str] = field(default_factory=set)
    """Conferences flagged to stay up with a single call in them."""

    # ------------------------------------------------------------------ calls

    def new_call(
        self,
        customer_id: str,
        status: str,
        direction: str,
        source: dict[str, Any],
        destination: dict[str, Any],
        call_id: str | None = None,
    ) -> Call:
        now = self.stamps()
        call_id = call_id or self.ids.uuid()
        call = Call(call_id, customer_id, status, direction, dict(source), dict(destination), now, now)
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
        self.add_to_timeline(call)
        return call

    def chain(self, master: Call, chained: Call) -> None:
        """``ChainedCallIDAdd`` (``chained_call.go:14-69``): refused, silently, when the master is ending."""
        if master.ended:
            return
        master.chained_call_ids.append(chained.id)
        chained.master_call_id = master.id

    def outgoing_failure(self, destination: dict[str, Any]) -> str | None:
        """Why ``CreateCallOutgoing`` refuses ``destination`` (the call then never exists), or ``None``."""
        kind = destination.get("type")
        if kind not in DIALABLE:
            return "the destination type must be sip or tel"  # outgoing_call.go:147-150
        if kind == "tel" and not self.config.voipbin_identity_verified:
            return "customer identity verification required for PSTN calls"  # validate.go:137-151
        if not self.config.voipbin_balance:
            return "could not pass the balance validation"  # outgoing_call.go:176-180
        return None

    def answer(self, call: Call) -> bool:
        """The callee picks up: the call progresses, its flow joins the transfer's conference, its groupcall
        records the answer (``groupcallhandler/answer.go:14-97``)."""
        if call.ended or call.status == "progressing":
            return False
        at = self.stamps()
        call.move("ringing", at)
        call.move("progressing", at)
        self.events.call_answered(call, at)
        groupcall = self.groupcalls.get(call.groupcall)
        if groupcall is not None and groupcall.answer_call_id == NIL_UUID:
            groupcall.answer_call_id = call.id
            groupcall.tm_update = at
            if groupcall.master_groupcall_id == NIL_UUID:
                # answer.go:89-94: hang up the other members. A nested groupcall stops here (answer.go:69-82).
                self.events.groupcall_answered(groupcall, at)
                self._hangup_others(groupcall, call, at)
        return True

    def _hangup_others(self, groupcall: Groupcall, answered: Call, at: int) -> None:
        """``HangingupOthers`` (``groupcallhandler/hangup.go:15-43``): every member but the answer, and in each
        nested groupcall every member but that groupcall's own answer."""
        for call_id in groupcall.call_ids:
            call = self.calls.get(call_id)
            if call is not None and call is not answered:
                self.hanging_up(call, at, "cancel")
        for nested_id in groupcall.groupcall_ids:
            nested = self.groupcalls.get(nested_id)
            if nested is not None:
                self._hangup_others(nested, self.calls.get(nested.answer_call_id, answered), at)

    def _member_calls(self, groupcall: Groupcall) -> list[Call]:
        """The calls of ``groupcall`` and of its nested groupcalls that exist (a failed one never did)."""
        calls = [self.calls[c] for c in groupcall.call_ids if c in self.calls]
        for nested in groupcall.groupcall_ids:
            if nested in self.groupcalls:
                calls += self._member_calls(self.groupcalls[nested])
        return calls

    def live_members(self, groupcall: Groupcall) -> list[Call]:
        return [c for c in self._member_calls(groupcall) if not c.ended]

    def hanging_up(
        self, call: Call, at: int, reason: str = "normal", delay_s: float | None = None, *, deferred: bool = False
    ) -> None:
        """``HangingUp`` (``callhandler/hangup.go:106-181``): ``canceling`` (an outgoing call not answered yet)
        or ``terminating`` now, ``hangup`` once the channel ends (``call_hangup_delay_s`` later; right away when
        that is 0, unless ``deferred``: then at the next request, after the API has answered)."""
        if call.ended:
            return
        at = self.stamps(at)
        ringing = call.direction == "outgoing" and call.status in ("dialing", "ringing")
        call.move("canceling" if ringing else "terminating", at, "cancel" if ringing else reason, "local")
        delay = seconds_to_us(self.config.call_hangup_delay_s if delay_s is None else delay_s)
        if delay <= 0 and not deferred:
            self.hung_up(call, at)
        else:
            self.scheduler.at(at + delay, lambda when: self.hung_up(call, when))

    def hung_up(self, call: Call, at: int, reason: str = "", by: str = "") -> None:
        """``Hangup`` (``callhandler/hangup.go:18-104``): the channel ended. The transfer manager hears of it,
        the groupcall counts it, and the chained calls are hung up."""
        if call.status == "hangup":
            return
        at = self.stamps(at)
        call.move("hangup", at, reason or "normal", by or "remote")
        self.events.call_hungup(call, at)
        groupcall = self.groupcalls.get(call.groupcall)
        if groupcall is not None:
            self._decrease(groupcall, "call_count", at)
        for chained_id in list(call.chained_call_ids):
            chained = self.calls.get(chained_id)
            if chained is not None:
                self.hanging_up(chained, self.stamps(gap=GAP_US))
        self._leave_conference(call)

    def _leave_conference(self, call: Call) -> None:
        """``Leaved`` (``confbridgehandler/leaved.go:17-61``): one call left alone in the conference goes too."""
        conference = call.confbridge_id
        if conference == NIL_UUID or conference in self.no_auto_leave:
            return
        left = [c for c in self.calls.values() if c.confbridge_id == conference and not c.ended]
        if len(left) == 1:
            self.hanging_up(left[0], self.stamps(gap=GAP_US))

    def remote_hangup(self, call: Call, at: int | None = None, reason: str = "normal") -> None:
        """The other party hangs up (a channel ending on its own), now or at the scheduled ``at``."""
        if call.status != "hangup":
            self.hung_up(call, self.stamps(at, gap=GAP_US), reason, "remote")

    def delete(self, call: Call) -> None:
        """``DELETE /calls/{id}`` (``callhandler/call.go:13-49``): hang up first, then mark deleted."""
        if call.tm_delete is not None:
            return
        if call.status != "hangup":
            self.hanging_up(call, self.stamps(), delay_s=0)
        call.tm_delete = self.stamps()

    def terminate_conference(self, confbridge_id: str, at: int) -> None:
        """``ConfbridgeTerminate``: the bridge goes and every call in it ends its flow and hangs up."""
        if confbridge_id == NIL_UUID:
            return
        for call in list(self.calls.values()):
            if call.confbridge_id == confbridge_id and not call.ended:
                self.hanging_up(call, self.stamps(at, gap=GAP_US))

    # ------------------------------------------------------------------ groupcalls

    def dial_addresses(self, destination: dict[str, Any]) -> list[dict[str, Any]]:
        """``getDialAddressesAndRingMethod`` (``dial.go:140-176``). Every agent of the sandbox has one SIP
        address; an extension is registered (one SIP contact) when its ``target_name`` names it
        (``dial.go:178-215`` looks contacts up by ``target_name``)."""
        kind = destination.get("type")
        if kind in DIALABLE:
            return [dict(destination)]
        if kind == "agent":
            return [{"type": "sip", "target": f"agent-{destination.get('target', '')[:8]}@{SANDBOX_DOMAIN}"}]
        if kind == "extension":
            name = destination.get("target_name") or ""
            if not name:
                raise GroupcallRefused(f"no registered contact found for extension {name}")
            return [{"type": "sip", "target": f"{name}@{SANDBOX_DOMAIN}", "target_name": name}]
        raise GroupcallRefused("unsupported address type")

    def start(
        self,
        customer_id: str,
        flow_id: str,
        source: dict[str, Any],
        destinations: list[dict[str, Any]],
        master_call_id: str,
    ) -> tuple[Groupcall, list[Pending]]:
        """``groupcallhandler.Start`` with ring-all, up to returning (``start.go:17-164``): the groupcall exists,
        its members are still to be created (:meth:`dial`). Raises :class:`GroupcallRefused`."""
        if not destinations:
            raise GroupcallRefused("have no destination")  # start.go:47-50
        top_id = self.ids.uuid()
        if len(destinations) == 1:
            dials = self.dial_addresses(destinations[0])
            ids = [self.ids.uuid() for _ in dials]
            top = self._groupcall(top_id, customer_id, flow_id, source, destinations, master_call_id, NIL_UUID, ids, [])
            return top, [Pending(i, d, top, nested=False, wrong_counter=False) for i, d in zip(ids, dials, strict=True)]
        members = [(self.ids.uuid(), d) for d in destinations]
        call_ids = [i for i, d in members if d.get("type") not in NESTED]
        nested_ids = [i for i, d in members if d.get("type") in NESTED]
        top = self._groupcall(
            top_id, customer_id, flow_id, source, destinations, master_call_id, NIL_UUID, call_ids, nested_ids
        )
        pending = [Pending(i, d, top, nested=d.get("type") in NESTED, wrong_counter=True) for i, d in members]
        return top, pending

    def _groupcall(
        self,
        groupcall_id: str,
        customer_id: str,
        flow_id: str,
        source: dict[str, Any],
        destinations: list[dict[str, Any]],
        master_call_id: str,
        master_groupcall_id: str,
        call_ids: list[str],
        groupcall_ids: list[str],
    ) -> Groupcall:
        now = self.stamps()
        groupcall = Groupcall(
            id=groupcall_id,
            customer_id=customer_id,
            flow_id=flow_id,
            source=dict(source),
            destinations=[dict(d) for d in destinations],
            master_call_id=master_call_id,
            master_groupcall_id=master_groupcall_id,
            call_ids=call_ids,
            groupcall_ids=groupcall_ids,
            tm_create=now,
            tm_update=now,
        )
        self.groupcalls[groupcall.id] = groupcall
        self.add_to_timeline(groupcall)
        return groupcall

    def dial(self, pending: list[Pending]) -> None:
        """What ``Start``'s goroutines do: create each member, or count it out when it cannot be created."""
        for member in pending:
            group = member.groupcall
            if member.nested:
                self._start_nested(member)
                continue
            failure = self.outgoing_failure(member.destination)
            if failure is not None:
                counter = "groupcall_count" if member.wrong_counter else "call_count"
                self._decrease(group, counter, self.stamps())
                continue
            call = self.new_call(
                group.customer_id, "dialing", "outgoing", group.source, member.destination, call_id=member.id
            )
            call.flow_id = group.flow_id
            call.groupcall = group.id
            master = self.calls.get(group.master_call_id)
            if master is not None:
                self.chain(master, call)

    def _start_nested(self, member: Pending) -> None:
        """``startWithDestination`` for an agent/extension member (``start.go:254-366``); failing, the top
        groupcall counts the member out (``start.go:139-143``)."""
        top = member.groupcall
        try:
            dials = self.dial_addresses(member.destination)
        except GroupcallRefused:
            self._decrease(top, "groupcall_count", self.stamps())
            return
        ids = [self.ids.uuid() for _ in dials]
        destinations = [member.destination]
        nested = self._groupcall(
            member.id, top.customer_id, top.flow_id, top.source, destinations, top.master_call_id, top.id, ids, []
        )
        self.dial([Pending(i, d, nested, nested=False, wrong_counter=False) for i, d in zip(ids, dials, strict=True)])

    def ring(self, groupcall: Groupcall, at: int) -> None:
        """The callees' phones ring: ``dialing`` -> ``ringing``."""
        for call in self._member_calls(groupcall):
            if call.status == "dialing":
                call.move("ringing", self.stamps(at))

    def no_answer(self, groupcall: Groupcall) -> None:
        """Every ringing member gives up (no answer or busy), as the callees' phones decide."""
        for call in self.live_members(groupcall):
            reason = "busy" if self.planner.chance(0.25) else "noanswer"
            self.remote_hangup(call, reason=reason)

    def _decrease(self, groupcall: Groupcall, counter: str, at: int) -> None:
        """``DecreaseCallCount``/``DecreaseGroupcallCount`` then ``hangupCommon`` (``hangup.go:103-182``)."""
        setattr(groupcall, counter, getattr(groupcall, counter) - 1)
        groupcall.tm_update = at
        self.events.groupcall_counted(groupcall, at)
        if groupcall.groupcall_count > 0 or groupcall.call_count > 0:
            return  # hangup.go:144-147: a member is (or seems) still there
        self._hangup(groupcall, at)

    def _hangup(self, groupcall: Groupcall, at: int) -> None:
        """``Hangup`` (``hangup.go:77-101``): ``hangup``, the event, and the master groupcall counts it out."""
        groupcall.set_status("hangup", self.stamps(at))
        self.events.groupcall_hungup(groupcall, at)
        master = self.groupcalls.get(groupcall.master_groupcall_id)
        if master is not None:
            self._decrease(master, "groupcall_count", self.stamps(gap=GAP_US))

    def hangingup(self, groupcall: Groupcall) -> None:
        """``POST /groupcalls/{id}/hangup`` -> ``Hangingup`` (``hangup.go:45-75``): ``hangingup`` whatever the
        status was, then every member is hung up; each one's end, ``groupcall_hangingup_s`` later, is counted."""
        groupcall.set_status("hangingup", self.stamps())
        for nested_id in groupcall.groupcall_ids:
            nested = self.groupcalls.get(nested_id)
            if nested is not None:
                self.hangingup(nested)
        for call_id in groupcall.call_ids:
            call = self.calls.get(call_id)
            if call is not None:
                self.hanging_up(call, self.stamps(), delay_s=self.config.groupcall_hangingup_s)
