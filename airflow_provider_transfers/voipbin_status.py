"""Derive a VoIPbin transfer's status (VoIPbin has none) from its groupcall and calls: did the customer end up
with the transferee? The rules, each citing the server source they follow (``voipbin/monorepo`` at commit
``2bf22fa4``), are in docs/operators/voipbin.md, "Derived status". Ties count against the transfer.

The ``needs_*`` functions say which reads a check needs; ``derive_voipbin_status`` is pure.
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

_LEAVING = (VoipbinCallStatus.TERMINATING, VoipbinCallStatus.CANCELING)
_ENDING = (VoipbinGroupcallStatus.PROGRESSING, VoipbinGroupcallStatus.HANGINGUP)


@dataclass(frozen=True)
class Derivation:
    """The derived status, a sentence saying why, and the facts it rests on (``evidence["decided_by"]``: the
    facts that decided a terminal status, empty while ``active``)."""

    status: TransferStatus
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)


def groupcall_ended(groupcall: VoipbinGroupcall) -> bool:
    """``hangup``, or nobody left to answer: ``call_count + groupcall_count <= 0``."""
    left = groupcall.call_count + groupcall.groupcall_count
    return groupcall.status is VoipbinGroupcallStatus.HANGUP or (groupcall.status in _ENDING and left <= 0)


def customer_chained_to_agent(transferer_call: VoipbinCall | None) -> bool:
    """The agent's call is the master: it has no master call but calls chained to it (the customer's)."""
    if transferer_call is None:
        return False
    return transferer_call.master_call_id is None and bool(transferer_call.chained_call_ids)


def needs_transferer_call(transfer_type: VoipbinTransferType | str, groupcall: VoipbinGroupcall | None = None) -> bool:
    """Whether the transferer call must be read: always for an attended transfer (before the groupcall); for a
    blind one only when its groupcall (already read) has no master call, to see whose master the agent was."""
    attended = VoipbinTransferType(transfer_type) is VoipbinTransferType.ATTENDED
    return attended or (groupcall is not None and groupcall.master_call_id is None)


def nested_groupcalls_to_read(transfer_type: VoipbinTransferType | str, groupcall: VoipbinGroupcall) -> list[str]:
    """The nested groupcalls a blind transfer's check must read: while unanswered, an answer may be there."""
    blind = VoipbinTransferType(transfer_type) is VoipbinTransferType.BLIND
    return list(groupcall.groupcall_ids) if blind and groupcall.answer_call_id is None else []


def needs_answer_call(
    transfer_type: VoipbinTransferType | str, groupcall: VoipbinGroupcall, transferer_call: VoipbinCall | None
) -> bool:
    """Whether the answering call must be read: attended, the agent's call hung up, the groupcall answered.
    Only then does the order of events decide the outcome."""
    return (
        VoipbinTransferType(transfer_type) is VoipbinTransferType.ATTENDED
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
    assert transferer_call is not None  # needs_answer_call says so
    return None if _answer_verdict(transferer_call, answer_call) else transferer_call.master_call_id


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _status(value: Any) -> str | None:
    return value.value if value is not None else None


def derive_voipbin_status(
    transfer_type: VoipbinTransferType | str,
    groupcall: VoipbinGroupcall,
    transferer_call: VoipbinCall | None = None,
    answer_call: VoipbinCall | None = None,
    customer_call: VoipbinCall | None = None,
    nested: Sequence[VoipbinGroupcall] = (),
) -> Derivation:
    """The status of a transfer from what its check read (see the ``needs_*`` functions). Pure: no I/O. Without
    a needed read nothing terminal is derived from it (``active``)."""
    kind = VoipbinTransferType(transfer_type)
    answered = groupcall.answer_call_id is not None
    evidence: dict[str, Any] = {
        "transfer_type": kind.value,
        "groupcall_id": groupcall.id,
        "groupcall_status": _status(groupcall.status),
        "answer_call_id": groupcall.answer_call_id,
        "answered": answered,
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
        if answered:
            return result(
                TransferStatus.COMPLETED,
                f"call {groupcall.answer_call_id} answered the blind transfer",
                "groupcall.answer_call_id",
            )
        for inner in nested:
            if inner.answer_call_id is not None:
                return result(
                    TransferStatus.COMPLETED,
                    f"call {inner.answer_call_id} answered through nested groupcall {inner.id} (an agent or "
                    "extension address) and joined the customer's conference; VoIPbin's transfer manager does not "
                    "record it",
                    "nested_groupcall.answer_call_id",
                )
    ended = groupcall_ended(groupcall)
    if not answered and ended:
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
    if kind is VoipbinTransferType.ATTENDED:
        if transferer_call is None:
            state = "answered" if answered else "not answered yet"
            return result(TransferStatus.ACTIVE, f"{state}; transferer call not checked")
        call_status = transferer_call.status
        if call_status is VoipbinCallStatus.HANGUP and not answered:
            return result(
                TransferStatus.FAILED,
                "the agent hung up before anyone answered: VoIPbin terminates the customer's conference and a "
                "later answer connects nobody",
                "transferer_call.status=hangup",
                "groupcall.answer_call_id=unset",
            )
        if call_status is VoipbinCallStatus.HANGUP:
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
    if agent_gone is None:
        return None
    if answer_call.tm_progressing is not None and answer_call.tm_progressing >= agent_gone:
        return (
            f"call {answer_call.id} answered at or after the agent hung up: VoIPbin had already terminated the "
            "customer's conference",
            "answer_call.tm_progressing>=transferer_call.tm_hangup",
        )
    if answer_call.tm_hangup is not None and answer_call.tm_hangup <= agent_gone:
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
    result: Callable[..., Derivation],
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
        return result(TransferStatus.FAILED, *verdict)
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
