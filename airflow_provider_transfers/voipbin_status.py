"""Derive a VoIPbin transfer's status: VoIPbin has no transfer status, only the resources it points at.

The question answered is the one a user reconciling transfers asks: *did the caller end up with the
transferee?* A transfer creates a *groupcall* ringing the transferee addresses; its ``answer_call_id``
is set when a transferee answers and its ``status`` goes ``progressing -> hangingup -> hangup``. The
*transferer call* is the agent's call that started the transfer. The rules follow the transfer
manager's own source (``voipbin/monorepo`` at commit ``2bf22fa4e87d077a69442aa02f74b0c18e2915dd``,
paths under ``bin-transfer-manager/pkg/transferhandler/``):

blind (``blind.go:90-95``: the agent's call is hung up *first*, then the groupcall is created)
    ``completed`` once the groupcall has an ``answer_call_id`` (``transferee.go:111-135`` bridges the
    answering call to the caller); ``failed`` once the groupcall is ``hangup`` with no answer
    (``transferee.go:45-58`` terminates the caller's conference); else ``active``.

attended (the agent consults the transferee, then hangs up to hand the caller over)
    * ``failed`` once the groupcall is ``hangup`` with no answer (nobody answered);
    * ``failed`` when the agent's call hung up before anyone answered: ``transferer.go:58-68`` only
      terminates the conference and returns. The groupcall keeps ringing and a later answer is ignored
      (``transferee.go:137-142``), so an answer that came *at or after* the agent's ``tm_hangup`` (the
      answering call's ``tm_progressing``) does not rescue the transfer;
    * ``failed`` when the transferee left during the consultation: ``transferee.go:62-88`` puts the
      agent back with the caller; the agent's later hang-up connects nobody. Decided by the answering
      call's ``tm_hangup`` being at or before the agent's ``tm_hangup`` (or, while the agent is still on
      the line, by the answered groupcall being ``hangup``);
    * ``completed`` when the agent hung up while the answering call was up (``transferer.go:70-80``);
    * else ``active`` (ringing, or answered and consulting). A transferer call ``terminating`` or
      ``canceling`` has not hung up yet.

Monotonic: a terminal status derived here never turns into the other terminal status, because every
deciding fact is a timestamp or an answer that, once set, never changes. Ties (equal timestamps; the
RFC 3339 form may carry only milliseconds) count against the transfer: a check made between the agent's
hang-up and a simultaneous answer has already reported ``failed``, and must keep doing so.

Requests per check: a blind transfer needs the groupcall only. An attended one needs the transferer
call too, and the answering call only once the transferer call has hung up and the groupcall has an
answer (:func:`needs_answer_call`): see ``VoipbinHook.check_transfer``.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Derivation:
    """The derived status, a sentence saying why, and the facts it rests on.

    ``evidence["decided_by"]`` names the facts that decided a terminal status (empty while ``active``).
    """

    status: TransferStatus
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)


def needs_transferer_call(transfer_type: VoipbinTransferType | str) -> bool:
    """Whether the derivation needs the transferer call: only attended transfers do."""
    return VoipbinTransferType(transfer_type) is VoipbinTransferType.ATTENDED


def needs_answer_call(
    transfer_type: VoipbinTransferType | str, groupcall: VoipbinGroupcall, transferer_call: VoipbinCall | None
) -> bool:
    """Whether the answering call must be read: attended, the agent's call hung up, the groupcall answered.

    Only then does the order of events decide the outcome (see the module docstring).
    """
    return (
        VoipbinTransferType(transfer_type) is VoipbinTransferType.ATTENDED
        and transferer_call is not None
        and transferer_call.status is VoipbinCallStatus.HANGUP
        and groupcall.answer_call_id is not None
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _evidence(
    transfer_type: VoipbinTransferType,
    groupcall: VoipbinGroupcall,
    transferer_call: VoipbinCall | None,
    answer_call: VoipbinCall | None,
) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "transfer_type": transfer_type.value,
        "groupcall_id": groupcall.id,
        "groupcall_status": groupcall.status.value if groupcall.status else None,
        "answer_call_id": groupcall.answer_call_id,
        "answered": groupcall.answer_call_id is not None,
    }
    if transferer_call is not None:
        evidence["transferer_call_status"] = transferer_call.status.value if transferer_call.status else None
        evidence["transferer_hangup_reason"] = transferer_call.hangup_reason or None
        evidence["transferer_tm_hangup"] = _iso(transferer_call.tm_hangup)
    if answer_call is not None:
        evidence["answer_call_status"] = answer_call.status.value if answer_call.status else None
        evidence["answer_hangup_reason"] = answer_call.hangup_reason or None
        evidence["answer_tm_progressing"] = _iso(answer_call.tm_progressing)
        evidence["answer_tm_hangup"] = _iso(answer_call.tm_hangup)
    return evidence


def derive_voipbin_status(
    transfer_type: VoipbinTransferType | str,
    groupcall: VoipbinGroupcall,
    transferer_call: VoipbinCall | None = None,
    answer_call: VoipbinCall | None = None,
) -> Derivation:
    """The status of a transfer from its groupcall, (attended) its transferer call and, when
    :func:`needs_answer_call` says so, the answering call. Pure: no I/O.

    Without a needed transferer or answering call nothing terminal is derived from it (``active``).
    """
    kind = VoipbinTransferType(transfer_type)
    evidence = _evidence(kind, groupcall, transferer_call, answer_call)
    answered = groupcall.answer_call_id is not None
    gc_status = groupcall.status
    gc_label = gc_status.value if gc_status else "unknown"

    def result(status: TransferStatus, detail: str, *decided_by: str) -> Derivation:
        return Derivation(status, detail, {**evidence, "decided_by": list(decided_by)})

    if not answered and gc_status is VoipbinGroupcallStatus.HANGUP:
        return result(
            TransferStatus.FAILED,
            "nobody answered: the groupcall hung up without an answer",
            "groupcall.status=hangup",
            "groupcall.answer_call_id=unset",
        )
    if kind is VoipbinTransferType.BLIND:
        if answered:
            return result(
                TransferStatus.COMPLETED,
                f"call {groupcall.answer_call_id} answered the blind transfer",
                "groupcall.answer_call_id",
            )
        return result(TransferStatus.ACTIVE, f"ringing the transferees (groupcall {gc_label})")

    if transferer_call is None:
        state = "answered" if answered else "not answered yet"
        return result(TransferStatus.ACTIVE, f"{state}; transferer call not checked (groupcall {gc_label})")
    call_status = transferer_call.status
    if call_status is VoipbinCallStatus.HANGUP:
        if not answered:
            return result(
                TransferStatus.FAILED,
                "the agent hung up before anyone answered: VoIPbin terminates the caller's conference "
                "and ignores a later answer",
                "transferer_call.status=hangup",
                "groupcall.answer_call_id=unset",
            )
        return _after_agent_hangup(groupcall, transferer_call, answer_call, result)
    if answered and gc_status is VoipbinGroupcallStatus.HANGUP:
        return result(
            TransferStatus.FAILED,
            "the transferee left during the consultation; the agent is back with the caller",
            "groupcall.answer_call_id",
            "groupcall.status=hangup",
            f"transferer_call.status={call_status.value if call_status else 'unknown'}",
        )
    if call_status in _LEAVING:
        return result(TransferStatus.ACTIVE, f"the transferer call is {call_status.value}; waiting for hangup")
    if answered:
        return result(
            TransferStatus.ACTIVE,
            f"call {groupcall.answer_call_id} answered; consulting until the transferer hangs up",
        )
    return result(TransferStatus.ACTIVE, f"ringing the transferees (groupcall {gc_label})")


def _after_agent_hangup(
    groupcall: VoipbinGroupcall,
    transferer_call: VoipbinCall,
    answer_call: VoipbinCall | None,
    result: Any,
) -> Derivation:
    """Attended, the agent hung up, the groupcall has an answer: the order of events decides."""
    if answer_call is None:
        return result(
            TransferStatus.ACTIVE,
            f"call {groupcall.answer_call_id} answered and the transferer hung up; the answering call "
            "is needed to tell which came first",
        )
    agent_gone = transferer_call.tm_hangup
    answered_at = answer_call.tm_progressing
    left_at = answer_call.tm_hangup
    if agent_gone is not None and answered_at is not None and answered_at >= agent_gone:
        return result(
            TransferStatus.FAILED,
            f"call {answer_call.id} answered at or after the agent hung up: VoIPbin had already "
            "terminated the caller's conference",
            "answer_call.tm_progressing>=transferer_call.tm_hangup",
        )
    if agent_gone is not None and left_at is not None and left_at <= agent_gone:
        return result(
            TransferStatus.FAILED,
            f"the transferee (call {answer_call.id}) left during the consultation, before the agent hung up",
            "answer_call.tm_hangup<=transferer_call.tm_hangup",
        )
    if agent_gone is None or answered_at is None:
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
        f"call {answer_call.id} answered and was still up when the agent hung up: the caller is with the transferee",
        "answer_call.tm_progressing<transferer_call.tm_hangup",
        "answer_call.tm_hangup unset or after transferer_call.tm_hangup",
    )
