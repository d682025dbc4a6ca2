"""Derive a VoIPbin transfer's status: VoIPbin has no transfer status, only the resources it points at.

A transfer creates a *groupcall* ringing the transferee addresses. Its ``answer_call_id`` is set when
a transferee answers; its ``status`` goes ``progressing -> hangingup -> hangup``. The *transferer call*
is the agent's call that started the transfer. The rules follow VoIPbin's own transfer manager:

blind
    ``completed`` once the groupcall has an ``answer_call_id``; ``failed`` once the groupcall is
    ``hangup`` with no answer; else ``active``.

attended (the agent consults the transferee first, then hangs up to complete)
    ``failed`` once the groupcall is ``hangup`` with no answer; ``completed`` once the groupcall was
    answered and the transferer call is ``hangup``; else ``active`` (ringing, or answered and
    consulting; a groupcall ``hangingup`` without an answer is still ``active`` until ``hangup``).

    Two cases the rules above leave open, decided as the transfer manager acts on them:

    * the transferer call is ``hangup`` before anyone answered: the manager tears the transfer down
      (it terminates the conference bridge), so the transfer is ``failed`` even while transferee
      phones still ring;
    * the transferee hung up during the consultation (groupcall answered and ``hangup``) while the
      transferer call is still up: the manager returns the agent to the caller, so ``failed``.

    A transferer call that is ``terminating``/``canceling`` has not hung up yet: no terminal status is
    derived from it until it reaches ``hangup``.

Only the groupcall is needed for a blind transfer (one request per check). An attended transfer also
needs the transferer call (two requests), read first: see ``VoipbinHook.check_transfer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Derivation:
    """The derived status, a sentence saying why, and the facts it rests on."""

    status: TransferStatus
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)


def needs_transferer_call(transfer_type: VoipbinTransferType | str) -> bool:
    """Whether the derivation needs the transferer call: only attended transfers do."""
    return VoipbinTransferType(transfer_type) is VoipbinTransferType.ATTENDED


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
    if answer_call is not None:
        evidence["answer_call_status"] = answer_call.status.value if answer_call.status else None
        evidence["answer_hangup_reason"] = answer_call.hangup_reason or None
    return evidence


def derive_voipbin_status(
    transfer_type: VoipbinTransferType | str,
    groupcall: VoipbinGroupcall,
    transferer_call: VoipbinCall | None = None,
    answer_call: VoipbinCall | None = None,
) -> Derivation:
    """The status of a transfer from its groupcall and (attended) its transferer call. Pure: no I/O.

    ``answer_call`` is optional and only adds evidence. When an attended transfer's transferer call is
    needed but not given, nothing terminal is derived from it (the transfer stays ``active``).
    """
    kind = VoipbinTransferType(transfer_type)
    evidence = _evidence(kind, groupcall, transferer_call, answer_call)
    answered = groupcall.answer_call_id is not None
    gc_status = groupcall.status
    gc_label = gc_status.value if gc_status else "unknown"

    def result(status: TransferStatus, detail: str) -> Derivation:
        return Derivation(status, detail, evidence)

    if not answered and gc_status is VoipbinGroupcallStatus.HANGUP:
        return result(TransferStatus.FAILED, "nobody answered: the groupcall hung up without an answer")
    if kind is VoipbinTransferType.BLIND:
        if answered:
            return result(TransferStatus.COMPLETED, f"call {groupcall.answer_call_id} answered the blind transfer")
        return result(TransferStatus.ACTIVE, f"ringing the transferees (groupcall {gc_label})")

    call_status = transferer_call.status if transferer_call is not None else None
    if transferer_call is None:
        state = "answered" if answered else "not answered yet"
        return result(TransferStatus.ACTIVE, f"{state}; transferer call not checked (groupcall {gc_label})")
    if call_status is VoipbinCallStatus.HANGUP:
        if answered:
            return result(
                TransferStatus.COMPLETED,
                f"call {groupcall.answer_call_id} answered and the transferer hung up: transfer completed",
            )
        return result(
            TransferStatus.FAILED,
            "the transferer call hung up before anyone answered: VoIPbin abandons the attended transfer",
        )
    if call_status in _LEAVING:
        return result(TransferStatus.ACTIVE, f"the transferer call is {call_status.value}; waiting for hangup")
    if answered and gc_status is VoipbinGroupcallStatus.HANGUP:
        return result(
            TransferStatus.FAILED,
            "the transferee hung up during the consultation; the transferer is back with the caller",
        )
    if answered:
        return result(
            TransferStatus.ACTIVE,
            f"call {groupcall.answer_call_id} answered; consulting until the transferer hangs up",
        )
    return result(TransferStatus.ACTIVE, f"ringing the transferees (groupcall {gc_label})")
