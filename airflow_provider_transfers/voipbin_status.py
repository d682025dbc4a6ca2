"""Derive a VoIPbin transfer's status: VoIPbin has no transfer status, only the resources it points at.

The question answered is the one a user reconciling transfers asks: *did the customer end up with the
transferee?* A transfer creates a *groupcall* ringing the transferee addresses; its ``answer_call_id`` is set
when a transferee answers and its ``status`` goes ``progressing -> hangingup -> hangup``. The *transferer call*
is the agent's call that started the transfer; the *customer's call* is its master call. The rules follow the
server's source (``voipbin/monorepo`` at commit ``2bf22fa4e87d077a69442aa02f74b0c18e2915dd``; ``transferhandler/``
is ``bin-transfer-manager/pkg/transferhandler/``, the rest is under ``bin-call-manager/pkg/``):

the customer's call chained to the agent's (the agent's call has no master but chained calls)
    ``failed``: hanging up a call hangs up the calls chained to it (``callhandler/hangup.go:89-101``). A blind
    transfer hangs the agent up first (``transferhandler/blind.go:90-95``), dropping the customer; an attended
    one is handed over by hanging the agent up, which drops the customer too.

blind
    ``completed`` once the groupcall has an ``answer_call_id`` (``transferhandler/transferee.go:111-135``
    bridges the answer to the customer), or once one of its nested groupcalls (an ``agent`` or ``extension``
    address among several) has one: such an answer never reaches the groupcall
    (``groupcallhandler/answer.go:69-82``) and the transfer manager never records it, but the answering call's
    flow joins the customer's conference all the same (``transferhandler/transfer.go:79-104``);
    ``failed`` once the groupcall has ended without an answer (``transferee.go:37-59`` terminates the
    customer's conference); else ``active``.

attended (the agent consults the transferee, then hangs up to hand the customer over)
    * ``failed`` once the groupcall has ended without an answer;
    * ``failed`` when the agent hung up before anyone answered: ``transferer.go:58-68`` terminates the
      conference, whose calls all end (``confbridgehandler/leaved.go:34``); a later answer, or one through a
      nested groupcall, connects nobody. An answer *at or after* the agent's ``tm_hangup`` (the answering
      call's ``tm_progressing``) counts as after;
    * ``failed`` when the transferee left during the consultation (``transferee.go:61-88`` puts the agent back
      with the customer): the answering call's ``tm_hangup`` at or before the agent's, or, with the agent still
      on the line, the answered groupcall ended;
    * ``failed`` when the customer hung up at or before the agent: their hang-up hangs up every call chained to
      theirs, the agent's and the transferee's among them (``callhandler/hangup.go:89-101``), and the transfer
      manager still records a ``transferee_call_id`` (``transferer.go:70-75``);
    * ``completed`` when the agent hung up while the transferee and the customer were on the line
      (``transferer.go:70-83``);
    * else ``active`` (ringing, or answered and consulting). A call ``terminating``/``canceling`` has not hung
      up yet.

A groupcall has *ended* when it is ``hangup``, or when no member is left to answer: ``call_count +
groupcall_count <= 0`` (both absent when 0). The sum stays exact where the counts do not: a member call that
cannot be created (an unsupported address type, no balance, an unverified identity,
``callhandler/outgoing_call.go:147-180``) decrements ``groupcall_count`` instead of ``call_count``
(``groupcallhandler/start.go:150-157``), so the groupcall never reaches ``hangup`` by itself
(``groupcallhandler/hangup.go:144-147``); and hanging up an ended groupcall sets it back to ``hangingup`` for
good (``groupcallhandler/hangup.go:45-75``). Both end the transfer on that evidence, without waiting.

Monotonic: a terminal status derived here never turns into the other terminal status, because every
deciding fact is a timestamp, an answer or a count of members left that, once set or reached, never changes
back. Ties (equal timestamps; a server may round to milliseconds) count against the transfer.

Requests per check: see ``VoipbinHook.check_plan``. The ``needs_*`` functions say which reads a check needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_transfers.models import (
    TransferStatus,
    VoipbinCall,
    VoipbinCallStatus,
    VoipbinGroupcall,
    VoipbinGroupcallStatus,
    VoipbinTransferType,
)

SOURCE_COMMIT = "2bf22fa4e87d077a69442aa02f74b0c18e2915dd"
"""The ``voipbin/monorepo`` commit the rules were read from."""

_LEAVING = (VoipbinCallStatus.TERMINATING, VoipbinCallStatus.CANCELING)
_ENDING = (VoipbinGroupcallStatus.PROGRESSING, VoipbinGroupcallStatus.HANGINGUP)


@dataclass(frozen=True)
class Derivation:
    """The derived status, a sentence saying why, and the facts it rests on.

    ``evidence["decided_by"]`` names the facts that decided a terminal status (empty while ``active``).
    """

    status: TransferStatus
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _kind(transfer_type: VoipbinTransferType | str) -> VoipbinTransferType:
    return VoipbinTransferType(transfer_type)


def groupcall_ended(groupcall: VoipbinGroupcall) -> bool:
    """``hangup``, or nobody left to answer (see the module docstring)."""
    status = groupcall.status
    if status is VoipbinGroupcallStatus.HANGUP:
        return True
    return status in _ENDING and groupcall.call_count + groupcall.groupcall_count <= 0


def customer_chained_to_agent(transferer_call: VoipbinCall | None) -> bool:
    """The agent's call is the master: it has no master call but calls chained to it (the customer's)."""
    if transferer_call is None or transferer_call.master_call_id is not None:
        return False
    return bool(transferer_call.chained_call_ids)


def needs_transferer_call(transfer_type: VoipbinTransferType | str, groupcall: VoipbinGroupcall | None = None) -> bool:
    """Whether the transferer call must be read: always for an attended transfer (before the groupcall); for a
    blind one only when its groupcall (already read) has no master call, to see whose master the agent was."""
    if _kind(transfer_type) is VoipbinTransferType.ATTENDED:
        return True
    return groupcall is not None and groupcall.master_call_id is None


def nested_groupcalls_to_read(transfer_type: VoipbinTransferType | str, groupcall: VoipbinGroupcall) -> list[str]:
    """The nested groupcalls a blind transfer's check must read: while unanswered, an answer may be there."""
    if _kind(transfer_type) is not VoipbinTransferType.BLIND or groupcall.answer_call_id is not None:
        return []
    return list(groupcall.groupcall_ids)


def needs_answer_call(
    transfer_type: VoipbinTransferType | str, groupcall: VoipbinGroupcall, transferer_call: VoipbinCall | None
) -> bool:
    """Whether the answering call must be read: attended, the agent's call hung up, the groupcall answered.

    Only then does the order of events decide the outcome (see the module docstring).
    """
    return (
        _kind(transfer_type) is VoipbinTransferType.ATTENDED
        and transferer_call is not None
        and transferer_call.status is VoipbinCallStatus.HANGUP
        and groupcall.answer_call_id is not None
        and not customer_chained_to_agent(transferer_call)
    )


def needs_customer_call(
    transfer_type: VoipbinTransferType | str,
    groupcall: VoipbinGroupcall,
    transferer_call: VoipbinCall | None,
    answer_call: VoipbinCall | None,
) -> str | None:
    """The customer's call id when it must be read: the answering call shows a hand-over, and only the
    customer's ``tm_hangup`` can still tell that they had left first."""
    if answer_call is None or not needs_answer_call(transfer_type, groupcall, transferer_call):
        return None
    assert transferer_call is not None
    if _answer_verdict(transferer_call, answer_call) is not None:
        return None
    return transferer_call.master_call_id


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _status(value: Any) -> str | None:
    return value.value if value is not None else None


def _evidence(
    transfer_type: VoipbinTransferType,
    groupcall: VoipbinGroupcall,
    transferer_call: VoipbinCall | None,
    answer_call: VoipbinCall | None,
    customer_call: VoipbinCall | None,
    nested: Sequence[VoipbinGroupcall],
) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "transfer_type": transfer_type.value,
        "groupcall_id": groupcall.id,
        "groupcall_status": _status(groupcall.status),
        "answer_call_id": groupcall.answer_call_id,
        "answered": groupcall.answer_call_id is not None,
        "groupcall_members_left": groupcall.call_count + groupcall.groupcall_count,
    }
    if nested:
        evidence["nested_groupcalls"] = {g.id: g.answer_call_id for g in nested}
    if transferer_call is not None:
        evidence["transferer_call_status"] = _status(transferer_call.status)
        evidence["transferer_hangup_reason"] = transferer_call.hangup_reason or None
        evidence["transferer_tm_hangup"] = _iso(transferer_call.tm_hangup)
        evidence["transferer_master_call_id"] = transferer_call.master_call_id
    if answer_call is not None:
        evidence["answer_call_status"] = _status(answer_call.status)
        evidence["answer_hangup_reason"] = answer_call.hangup_reason or None
        evidence["answer_tm_progressing"] = _iso(answer_call.tm_progressing)
        evidence["answer_tm_hangup"] = _iso(answer_call.tm_hangup)
    if customer_call is not None:
        evidence["customer_call_id"] = customer_call.id
        evidence["customer_call_status"] = _status(customer_call.status)
        evidence["customer_tm_hangup"] = _iso(customer_call.tm_hangup)
    return evidence


Result = Callable[..., Derivation]


def derive_voipbin_status(
    transfer_type: VoipbinTransferType | str,
    groupcall: VoipbinGroupcall,
    transferer_call: VoipbinCall | None = None,
    answer_call: VoipbinCall | None = None,
    customer_call: VoipbinCall | None = None,
    nested: Sequence[VoipbinGroupcall] = (),
) -> Derivation:
    """The status of a transfer from what its check read (see the ``needs_*`` functions). Pure: no I/O.

    Without a needed read nothing terminal is derived from it (``active``).
    """
    kind = _kind(transfer_type)
    evidence = _evidence(kind, groupcall, transferer_call, answer_call, customer_call, nested)

    def result(status: TransferStatus, detail: str, *decided_by: str) -> Derivation:
        return Derivation(status, detail, {**evidence, "decided_by": list(decided_by)})

    if customer_chained_to_agent(transferer_call):
        return result(
            TransferStatus.FAILED,
            "the customer's call is chained to the agent's: hanging the agent up (the first step of a blind "
            "transfer, the hand-over of an attended one) hangs the customer up with it",
            "transferer_call.master_call_id=unset",
            "transferer_call.chained_call_ids",
        )
    if kind is VoipbinTransferType.BLIND:
        return _blind(groupcall, nested, result)
    return _attended(groupcall, transferer_call, answer_call, customer_call, result)


def _unanswered_end(groupcall: VoipbinGroupcall, result: Result) -> Derivation:
    if groupcall.status is VoipbinGroupcallStatus.HANGUP:
        return result(
            TransferStatus.FAILED,
            "nobody answered: the groupcall hung up without an answer",
            "groupcall.status=hangup",
            "groupcall.answer_call_id=unset",
        )
    return result(
        TransferStatus.FAILED,
        f"nobody answered and nobody is left to: every member of the groupcall has ended, and VoIPbin leaves "
        f"it {_status(groupcall.status)} for good",
        "groupcall.call_count+groupcall_count<=0",
        "groupcall.answer_call_id=unset",
    )


def _blind(groupcall: VoipbinGroupcall, nested: Sequence[VoipbinGroupcall], result: Result) -> Derivation:
    if groupcall.answer_call_id is not None:
        return result(
            TransferStatus.COMPLETED,
            f"call {groupcall.answer_call_id} answered the blind transfer",
            "groupcall.answer_call_id",
        )
    for inner in nested:
        if inner.answer_call_id is not None:
            return result(
                TransferStatus.COMPLETED,
                f"call {inner.answer_call_id} answered through nested groupcall {inner.id} (an agent or extension "
                "address) and joined the customer's conference; VoIPbin's transfer manager does not record it",
                "nested_groupcall.answer_call_id",
            )
    if groupcall_ended(groupcall):
        return _unanswered_end(groupcall, result)
    return result(TransferStatus.ACTIVE, f"ringing the transferees (groupcall {_status(groupcall.status)})")


def _attended(
    groupcall: VoipbinGroupcall,
    transferer_call: VoipbinCall | None,
    answer_call: VoipbinCall | None,
    customer_call: VoipbinCall | None,
    result: Result,
) -> Derivation:
    answered = groupcall.answer_call_id is not None
    ended = groupcall_ended(groupcall)
    if not answered and ended:
        return _unanswered_end(groupcall, result)
    if transferer_call is None:
        state = "answered" if answered else "not answered yet"
        return result(TransferStatus.ACTIVE, f"{state}; transferer call not checked")
    call_status = transferer_call.status
    if call_status is VoipbinCallStatus.HANGUP:
        if not answered:
            return result(
                TransferStatus.FAILED,
                "the agent hung up before anyone answered: VoIPbin terminates the customer's conference and a "
                "later answer connects nobody",
                "transferer_call.status=hangup",
                "groupcall.answer_call_id=unset",
            )
        return _after_agent_hangup(groupcall, transferer_call, answer_call, customer_call, result)
    if answered and ended:
        return result(
            TransferStatus.FAILED,
            "the transferee left during the consultation; the agent is back with the customer",
            "groupcall.answer_call_id",
            "groupcall.status=hangup" if groupcall.status is VoipbinGroupcallStatus.HANGUP else "groupcall ended",
            f"transferer_call.status={_status(call_status)}",
        )
    if call_status in _LEAVING:
        return result(TransferStatus.ACTIVE, f"the transferer call is {_status(call_status)}; waiting for hangup")
    if answered:
        return result(
            TransferStatus.ACTIVE,
            f"call {groupcall.answer_call_id} answered; consulting until the transferer hangs up",
        )
    return result(TransferStatus.ACTIVE, f"ringing the transferees (groupcall {_status(groupcall.status)})")


def _answer_verdict(transferer_call: VoipbinCall, answer_call: VoipbinCall) -> tuple[str, str] | None:
    """``(detail, decided_by)`` when the answering call's timestamps alone fail the hand-over, else ``None``."""
    agent_gone = transferer_call.tm_hangup
    answered_at = answer_call.tm_progressing
    left_at = answer_call.tm_hangup
    if agent_gone is not None and answered_at is not None and answered_at >= agent_gone:
        return (
            f"call {answer_call.id} answered at or after the agent hung up: VoIPbin had already terminated the "
            "customer's conference",
            "answer_call.tm_progressing>=transferer_call.tm_hangup",
        )
    if agent_gone is not None and left_at is not None and left_at <= agent_gone:
        return (
            f"the transferee (call {answer_call.id}) left during the consultation, before the agent hung up",
            "answer_call.tm_hangup<=transferer_call.tm_hangup",
        )
    return None


def _after_agent_hangup(
    groupcall: VoipbinGroupcall,
    transferer_call: VoipbinCall,
    answer_call: VoipbinCall | None,
    customer_call: VoipbinCall | None,
    result: Result,
) -> Derivation:
    """Attended, the agent hung up, the groupcall has an answer: the order of events decides."""
    if answer_call is None:
        return result(
            TransferStatus.ACTIVE,
            f"call {groupcall.answer_call_id} answered and the transferer hung up; the answering call is needed "
            "to tell which came first",
        )
    verdict = _answer_verdict(transferer_call, answer_call)
    if verdict is not None:
        return result(TransferStatus.FAILED, verdict[0], verdict[1])
    agent_gone = transferer_call.tm_hangup
    if transferer_call.master_call_id is not None:
        if customer_call is None:
            return result(
                TransferStatus.ACTIVE,
                f"call {answer_call.id} answered before the agent hung up; the customer's call is needed to tell "
                "whether they were still there",
            )
        gone = customer_call.tm_hangup
        if gone is not None and (agent_gone is None or gone <= agent_gone):
            return result(
                TransferStatus.FAILED,
                f"the customer (call {customer_call.id}) hung up at or before the agent: VoIPbin hung up the calls "
                "chained to theirs, the agent's and the transferee's, so nobody was handed over",
                "customer_call.tm_hangup<=transferer_call.tm_hangup",
            )
    if agent_gone is None or answer_call.tm_progressing is None:
        # A hung-up call always carries tm_hangup and an answered one tm_progressing; without them the
        # order is unknown and the platform's own reading (transferer.go:70) counts the answer.
        return result(
            TransferStatus.COMPLETED,
            f"call {answer_call.id} answered and the transferer hung up (order unknown: timestamps missing)",
            "groupcall.answer_call_id",
            "transferer_call.status=hangup",
        )
    return result(
        TransferStatus.COMPLETED,
        f"call {answer_call.id} answered and was still up when the agent hung up: the customer is with the transferee",
        "answer_call.tm_progressing<transferer_call.tm_hangup",
        "answer_call.tm_hangup unset or after transferer_call.tm_hangup",
    )
