"""The pure derivation of a VoIPbin transfer's status from its groupcall and transferer call."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_transfers.models import NIL_UUID, TransferStatus, VoipbinCall, VoipbinGroupcall
from airflow_provider_transfers.voipbin_status import (
    derive_voipbin_status,
    groupcall_ended,
    needs_answer_call,
    needs_customer_call,
    needs_transferer_call,
    nested_groupcalls_to_read,
)

GROUPCALL_ID = "e1f2a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b"
TRANSFERER_ID = "c9d0e1f2-a3b4-5c6d-7e8f-9a0b1c2d3e4f"
ANSWER_ID = "d0e1f2a3-b4c5-6d7e-8f9a-0b1c2d3e4f5a"


def groupcall(status: str, answered: bool, **extra: Any) -> VoipbinGroupcall:
    """One member left (``call_count`` 1) until it hangs up, as bin-call-manager counts them."""
    counts = {} if status == "hangup" else {"call_count": 1}
    return VoipbinGroupcall.model_validate(
        {"id": GROUPCALL_ID, "status": status, "answer_call_id": ANSWER_ID if answered else NIL_UUID, **counts, **extra}
    )


def call(status: str, reason: str = "", call_id: str = TRANSFERER_ID) -> VoipbinCall:
    return VoipbinCall.model_validate({"id": call_id, "status": status, "hangup_reason": reason})


@pytest.mark.parametrize(
    ("gc_status", "answered", "expected"),
    [
        ("progressing", False, TransferStatus.ACTIVE),
        ("hangingup", False, TransferStatus.ACTIVE),
        ("hangup", False, TransferStatus.FAILED),
        ("progressing", True, TransferStatus.COMPLETED),
        ("hangup", True, TransferStatus.COMPLETED),
    ],
)
def test_blind(gc_status: str, answered: bool, expected: TransferStatus) -> None:
    derived = derive_voipbin_status("blind", groupcall(gc_status, answered))
    assert derived.status is expected
    assert derived.evidence["groupcall_status"] == gc_status
    assert derived.evidence["answered"] is answered
    assert derived.evidence["answer_call_id"] == (ANSWER_ID if answered else None)


def test_blind_answered_detail_names_the_answering_call() -> None:
    derived = derive_voipbin_status("blind", groupcall("progressing", True))
    assert ANSWER_ID in derived.detail


def test_blind_unanswered_answer_call_id_absent_is_unanswered() -> None:
    gc = VoipbinGroupcall.model_validate({"id": GROUPCALL_ID, "status": "hangup"})
    assert derive_voipbin_status("blind", gc).status is TransferStatus.FAILED


@pytest.mark.parametrize(
    ("gc_status", "answered", "transferer", "expected", "words"),
    [
        # ringing the transferees, the agent still on the line
        ("progressing", False, "progressing", TransferStatus.ACTIVE, "ringing"),
        # answered and consulting
        ("progressing", True, "progressing", TransferStatus.ACTIVE, "consulting"),
        # answered, the agent hung up: the answering call is needed to tell the order
        ("progressing", True, "hangup", TransferStatus.ACTIVE, "answering call is needed"),
        # nobody answered
        ("hangup", False, "progressing", TransferStatus.FAILED, "nobody answered"),
        # being cancelled but not hung up yet: still active
        ("hangingup", False, "progressing", TransferStatus.ACTIVE, "ringing"),
        # agent hung up before anyone answered (transferer.go:58-68), whatever the groupcall does next
        ("progressing", False, "hangup", TransferStatus.FAILED, "before anyone answered"),
        ("hangingup", False, "hangup", TransferStatus.FAILED, "before anyone answered"),
        # transferee hung up during the consultation: back to the caller (transferee.go:62-88)
        ("hangup", True, "progressing", TransferStatus.FAILED, "during the consultation"),
        ("hangup", True, "terminating", TransferStatus.FAILED, "during the consultation"),
        # agent hanging up: nothing terminal until it reaches hangup
        ("progressing", True, "terminating", TransferStatus.ACTIVE, "terminating"),
    ],
)
def test_attended(gc_status: str, answered: bool, transferer: str, expected: TransferStatus, words: str) -> None:
    derived = derive_voipbin_status("attended", groupcall(gc_status, answered), call(transferer))
    assert derived.status is expected
    assert words in derived.detail
    assert derived.evidence["transferer_call_status"] == transferer
    assert bool(derived.evidence["decided_by"]) is expected.is_terminal


T0 = "2026-03-01T10:00:00Z"
T1 = "2026-03-01T10:00:01.5Z"
T2 = "2026-03-01 10:00:02.000000"  # the legacy form: both forms compare as instants
T3 = "2026-03-01T10:00:03Z"


def agent_gone(at: str) -> VoipbinCall:
    return VoipbinCall.model_validate({"id": TRANSFERER_ID, "status": "hangup", "tm_hangup": at})


def answerer(answered_at: str, left_at: str | None = None) -> VoipbinCall:
    body: dict[str, Any] = {"id": ANSWER_ID, "status": "hangup" if left_at else "progressing"}
    body["tm_progressing"] = answered_at
    if left_at:
        body["tm_hangup"] = left_at
    return VoipbinCall.model_validate(body)


@pytest.mark.parametrize(
    ("agent_hangup", "answer", "gc_status", "expected", "decided_by"),
    [
        # answered at T1, agent left at T2, transferee still there: handed over
        (
            T2,
            answerer(T1),
            "progressing",
            TransferStatus.COMPLETED,
            "answer_call.tm_progressing<transferer_call.tm_hangup",
        ),
        # ...and the transferee hangs up later (T3): still completed
        (
            T2,
            answerer(T1, T3),
            "hangup",
            TransferStatus.COMPLETED,
            "answer_call.tm_progressing<transferer_call.tm_hangup",
        ),
        # agent left at T1, someone answered at T2: the answer is ignored (transferee.go:137-142)
        (
            T1,
            answerer(T2),
            "progressing",
            TransferStatus.FAILED,
            "answer_call.tm_progressing>=transferer_call.tm_hangup",
        ),
        # a tie counts against the transfer (it may have been reported failed already)
        (
            T1,
            answerer(T1),
            "progressing",
            TransferStatus.FAILED,
            "answer_call.tm_progressing>=transferer_call.tm_hangup",
        ),
        # answered at T0, transferee left at T1, agent hung up at T2: the caller never reached anyone
        (T2, answerer(T0, T1), "hangup", TransferStatus.FAILED, "answer_call.tm_hangup<=transferer_call.tm_hangup"),
        (T1, answerer(T0, T1), "hangup", TransferStatus.FAILED, "answer_call.tm_hangup<=transferer_call.tm_hangup"),
    ],
)
def test_attended_order_read_from_timestamps(
    agent_hangup: str, answer: VoipbinCall, gc_status: str, expected: TransferStatus, decided_by: str
) -> None:
    derived = derive_voipbin_status("attended", groupcall(gc_status, True), agent_gone(agent_hangup), answer)
    assert derived.status is expected
    assert derived.evidence["decided_by"][0] == decided_by
    assert derived.evidence["answer_tm_progressing"] == answer.tm_progressing.isoformat()  # type: ignore[union-attr]
    assert derived.evidence["transferer_tm_hangup"] is not None


def test_attended_without_timestamps_counts_the_answer() -> None:
    """Data without tm_* (never sent for an answered, hung-up pair): the platform's own reading."""
    answer = VoipbinCall.model_validate({"id": ANSWER_ID, "status": "progressing"})
    derived = derive_voipbin_status("attended", groupcall("progressing", True), call("hangup"), answer)
    assert derived.status is TransferStatus.COMPLETED and "order unknown" in derived.detail


@pytest.mark.parametrize(
    ("kind", "gc", "transferer", "needed"),
    [
        ("attended", ("progressing", True), "hangup", True),
        ("attended", ("hangup", True), "hangup", True),
        ("attended", ("progressing", True), "progressing", False),
        ("attended", ("progressing", True), "terminating", False),
        ("attended", ("progressing", False), "hangup", False),
        ("blind", ("progressing", True), "hangup", False),
    ],
)
def test_needs_answer_call_only_when_the_order_decides(
    kind: str, gc: tuple[str, bool], transferer: str, needed: bool
) -> None:
    assert needs_answer_call(kind, groupcall(*gc), call(transferer)) is needed
    assert needs_answer_call(kind, groupcall(*gc), None) is False


def test_attended_evidence_carries_hangup_reasons() -> None:
    answer = call("hangup", "normal", call_id=ANSWER_ID)
    derived = derive_voipbin_status("attended", groupcall("hangup", True), call("hangup", "normal"), answer)
    assert derived.status is TransferStatus.COMPLETED  # no timestamps: the answer counts
    assert derived.evidence["transferer_hangup_reason"] == "normal"
    assert derived.evidence["answer_hangup_reason"] == "normal"
    assert derived.evidence["answer_call_status"] == "hangup"


def test_attended_without_transferer_call_never_derives_terminal_from_it() -> None:
    assert derive_voipbin_status("attended", groupcall("progressing", True)).status is TransferStatus.ACTIVE
    assert derive_voipbin_status("attended", groupcall("hangup", False)).status is TransferStatus.FAILED


def test_groupcall_without_status_is_active() -> None:
    gc = VoipbinGroupcall.model_validate({"id": GROUPCALL_ID})
    derived = derive_voipbin_status("blind", gc)
    assert derived.status is TransferStatus.ACTIVE
    assert derived.evidence["groupcall_status"] is None


@pytest.mark.parametrize(("kind", "needed"), [("blind", False), ("attended", True)])
def test_needs_transferer_call(kind: str, needed: bool) -> None:
    assert needs_transferer_call(kind) is needed


def test_unknown_transfer_type_is_refused() -> None:
    with pytest.raises(ValueError):
        derive_voipbin_status("warm", groupcall("progressing", False))


# ------------------------------------------------------------------ production behaviours (issue 18)

CUSTOMER_ID = "b8c9d0e1-f2a3-4b5c-8d7e-9f0a1b2c3d4e"
NESTED_ID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
NESTED_ANSWER_ID = "f0e1d2c3-b4a5-4968-8776-655443322110"


def agent(status: str, tm_hangup: str | None = None, **extra: Any) -> VoipbinCall:
    body: dict[str, Any] = {"id": TRANSFERER_ID, "status": status, "master_call_id": CUSTOMER_ID, **extra}
    if tm_hangup:
        body["tm_hangup"] = tm_hangup
    return VoipbinCall.model_validate(body)


def customer(tm_hangup: str | None = None) -> VoipbinCall:
    body: dict[str, Any] = {"id": CUSTOMER_ID, "status": "hangup" if tm_hangup else "progressing"}
    if tm_hangup:
        body["tm_hangup"] = tm_hangup
    return VoipbinCall.model_validate(body)


@pytest.mark.parametrize(
    ("customer_gone", "expected", "decided_by"),
    [
        # callhandler/hangup.go:89-101: the customer hung up first, the agent and the transferee with them
        (T1, TransferStatus.FAILED, "customer_call.tm_hangup<=transferer_call.tm_hangup"),
        (T2, TransferStatus.FAILED, "customer_call.tm_hangup<=transferer_call.tm_hangup"),  # a tie counts against
        # the customer stayed: handed over (and their own later hang-up changes nothing)
        (T3, TransferStatus.COMPLETED, "answer_call.tm_progressing<transferer_call.tm_hangup"),
        (None, TransferStatus.COMPLETED, "answer_call.tm_progressing<transferer_call.tm_hangup"),
    ],
)
def test_attended_hand_over_needs_the_customer_still_there(
    customer_gone: str | None, expected: TransferStatus, decided_by: str
) -> None:
    transferer, answer, gc = agent("hangup", T2), answerer(T0), groupcall("progressing", True)
    assert needs_customer_call("attended", gc, transferer, answer) == CUSTOMER_ID
    derived = derive_voipbin_status("attended", gc, transferer, answer, customer(customer_gone))
    assert derived.status is expected
    assert derived.evidence["decided_by"][0] == decided_by
    assert derived.evidence["customer_call_id"] == CUSTOMER_ID


def test_attended_hand_over_waits_for_the_customers_call_and_skips_it_when_the_answer_decides() -> None:
    transferer, gc = agent("hangup", T2), groupcall("progressing", True)
    waiting = derive_voipbin_status("attended", gc, transferer, answerer(T0))
    assert waiting.status is TransferStatus.ACTIVE and "customer's call is needed" in waiting.detail
    assert needs_customer_call("attended", gc, transferer, answerer(T3)) is None  # answered after: failed already
    assert needs_customer_call("attended", gc, transferer, answerer(T0, T1)) is None  # the transferee left first
    assert needs_customer_call("attended", gc, agent("progressing"), answerer(T0)) is None


@pytest.mark.parametrize("kind", ["blind", "attended"])
@pytest.mark.parametrize("gc", [("progressing", False), ("progressing", True), ("hangup", True)])
def test_the_customer_chained_to_the_agent_fails_at_once(kind: str, gc: tuple[str, bool]) -> None:
    """The agent's call is the master (no master call, the customer's chained to it): hanging it up, first
    thing in a blind transfer (blind.go:90-95) and the hand-over of an attended one, drops the customer."""
    master = VoipbinCall.model_validate(
        {"id": TRANSFERER_ID, "status": "progressing", "chained_call_ids": [CUSTOMER_ID]}
    )
    derived = derive_voipbin_status(kind, groupcall(*gc, master_call_id=None), master)
    assert derived.status is TransferStatus.FAILED
    assert derived.evidence["decided_by"] == [
        "transferer_call.master_call_id=unset",
        "transferer_call.chained_call_ids",
    ]


def test_blind_reads_the_transferer_only_when_its_groupcall_has_no_master() -> None:
    assert needs_transferer_call("blind", groupcall("progressing", False, master_call_id=CUSTOMER_ID)) is False
    assert needs_transferer_call("blind", groupcall("progressing", False, master_call_id=NIL_UUID)) is True
    unchained = VoipbinCall.model_validate({"id": TRANSFERER_ID, "status": "hangup"})
    assert derive_voipbin_status("blind", groupcall("progressing", True), unchained).status is TransferStatus.COMPLETED


def nested_groupcall(answered: bool, **extra: Any) -> VoipbinGroupcall:
    return VoipbinGroupcall.model_validate(
        {
            "id": NESTED_ID,
            "status": "progressing",
            "master_groupcall_id": GROUPCALL_ID,
            "answer_call_id": NESTED_ANSWER_ID if answered else NIL_UUID,
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("top", "inner", "expected"),
    [
        # answer.go:69-82: the nested answer never reaches the top groupcall, yet the caller is bridged
        (groupcall("progressing", False, groupcall_ids=[NESTED_ID], groupcall_count=1), True, TransferStatus.COMPLETED),
        # the top groupcall hangs up once the nested one ended: still completed, not "nobody answered"
        (groupcall("hangup", False, groupcall_ids=[NESTED_ID]), True, TransferStatus.COMPLETED),
        (groupcall("progressing", False, groupcall_ids=[NESTED_ID], groupcall_count=1), False, TransferStatus.ACTIVE),
        (groupcall("hangup", False, groupcall_ids=[NESTED_ID]), False, TransferStatus.FAILED),
    ],
)
def test_blind_answer_through_a_nested_groupcall(top: VoipbinGroupcall, inner: bool, expected: TransferStatus) -> None:
    assert nested_groupcalls_to_read("blind", top) == [NESTED_ID]
    derived = derive_voipbin_status("blind", top, nested=[nested_groupcall(inner)])
    assert derived.status is expected
    assert derived.evidence["nested_groupcalls"] == {NESTED_ID: NESTED_ANSWER_ID if inner else None}


def test_nested_groupcalls_are_read_only_by_an_unanswered_blind_check() -> None:
    top = groupcall("progressing", False, groupcall_ids=[NESTED_ID], groupcall_count=1)
    assert nested_groupcalls_to_read("attended", top) == []
    assert nested_groupcalls_to_read("blind", groupcall("progressing", True, groupcall_ids=[NESTED_ID])) == []
    # attended: a nested answer changes nothing; the agent hanging up terminates the conference (transferer.go:58-68)
    assert derive_voipbin_status("attended", top, agent("hangup", T1)).status is TransferStatus.FAILED


@pytest.mark.parametrize(
    ("counts", "status", "expected"),
    [
        # start.go:150-157: a failed member decrements groupcall_count; the sum is what is left
        ({"call_count": 2, "groupcall_count": -1}, "progressing", TransferStatus.ACTIVE),
        ({"call_count": 1, "groupcall_count": -1}, "progressing", TransferStatus.FAILED),
        ({"call_count": 1, "groupcall_count": -1}, "hangingup", TransferStatus.FAILED),
        # hangup.go:45-75: an ended groupcall hung up again is hangingup for good, its counts 0 (absent)
        ({}, "hangingup", TransferStatus.FAILED),
        ({"call_count": 1}, "hangingup", TransferStatus.ACTIVE),  # cancelling: a member still ending
    ],
)
def test_a_groupcall_with_nobody_left_has_ended(counts: dict[str, int], status: str, expected: TransferStatus) -> None:
    gc = VoipbinGroupcall.model_validate({"id": GROUPCALL_ID, "status": status, **counts})
    assert groupcall_ended(gc) is expected.is_terminal
    for kind, transferer in (("blind", None), ("attended", agent("progressing"))):
        derived = derive_voipbin_status(kind, gc, transferer)
        assert derived.status is expected, kind
    if expected.is_terminal:
        assert "groupcall.call_count+groupcall_count<=0" in derived.evidence["decided_by"]


def test_an_answered_groupcall_with_nobody_left_is_the_transferee_gone() -> None:
    """A failed member keeps call_count above 0, so the groupcall never hangs up after the transferee left."""
    gc = groupcall("progressing", True, call_count=1, groupcall_count=-1)
    derived = derive_voipbin_status("attended", gc, agent("progressing"))
    assert derived.status is TransferStatus.FAILED and "left during the consultation" in derived.detail
