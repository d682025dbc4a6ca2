"""Every VoIPbin transfer scenario as one table: the sandbox's ground truth and the status the hook derives,
after each event, on both wire formats; then a property test over random event orders.

Ground truth is "did the customer end up with the transferee?", recorded by the sandbox at the event that
decides it (``sandbox/voipbin_transfers.py``). The derivation reads only what a client can read (groupcalls,
calls, their timestamps and counts). Each row names the server source its ground truth rests on:
``voipbin/monorepo`` at 2bf22fa4, ``transferhandler/`` = ``bin-transfer-manager/pkg/transferhandler/``, the
other paths under ``bin-call-manager/pkg/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk import Connection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_transfers.hooks.voipbin import VoipbinHook
from airflow_provider_transfers.models import TransferStatus
from airflow_provider_transfers.sandbox.server import TransferSandbox

WIRES = ("current", "legacy")
TICK = "tick"
"""Not a platform event: let the sandbox clock pass 0.3 s (a cancelled groupcall's members finish hanging up)."""
A, C, F = "active", "completed", "failed"

TEL = {"type": "tel", "target": "+15550001111"}
TEL2 = {"type": "tel", "target": "+15550002222"}
SIP = {"type": "sip", "target": "bob@example.com"}
AGENT = {"type": "agent", "target": "7f0c2f4e-0000-4000-8000-00000000a9e1"}
EXTENSION = {"type": "extension", "target": "1001", "target_name": "1001"}
CONFERENCE = {"type": "conference", "target": "7f0c2f4e-0000-4000-8000-0000000000cf"}
QUIET = {"rate_limit": False, "transfer_delay_min_s": 3600, "transfer_delay_max_s": 3600}
CUSTOMER = {"voipbin_balance": True, "voipbin_identity_verified": True}
UNVERIFIED = {"voipbin_identity_verified": False}
NO_BALANCE = {"voipbin_balance": False}


@dataclass(frozen=True)
class Scenario:
    case: str
    kind: str
    events: tuple[str, ...]
    after: tuple[str, ...]
    """Ground truth == derived status after each event."""
    source: str
    initial: str = A
    addresses: tuple[dict[str, str], ...] = (TEL, TEL2)
    master: str = "customer"
    customer: dict[str, Any] = field(default_factory=dict)


SCENARIOS = [
    Scenario("blind answered", "blind", ("answer",), (C,), "transferee.go:111-135"),
    Scenario(
        "blind answered, the transferee hangs up later",
        "blind",
        ("answer", "transferee_hangup"),
        (C, C),
        "transferee.go:111-135",
    ),
    Scenario("blind unanswered", "blind", ("no_answer",), (F,), "transferee.go:37-59"),
    Scenario("blind cancelled", "blind", ("cancel", TICK), (A, F), "groupcallhandler/hangup.go:45-75"),
    Scenario("attended consulting", "attended", ("answer",), (A,), "transferee.go:137-142"),
    Scenario(
        "attended completed",
        "attended",
        ("answer", "transferer_hangup", "transferee_hangup"),
        (A, C, C),
        "transferer.go:70-83",
    ),
    Scenario(
        "attended: the agent hangs up while ringing; the customer's chained calls are cancelled with them",
        "attended",
        ("transferer_hangup",),
        (F,),
        "transferer.go:58-68, confbridgehandler/leaved.go:34, callhandler/hangup.go:89-101",
    ),
    Scenario(
        "attended: the transferee leaves during the consultation",
        "attended",
        ("answer", "transferee_hangup", "transferer_hangup"),
        (A, F, F),
        "transferee.go:61-88",
    ),
    Scenario(
        "attended cancelled while ringing",
        "attended",
        ("cancel", TICK, "transferer_hangup"),
        (A, F, F),
        "groupcallhandler/hangup.go:45-75, transferee.go:61-88",
    ),
    Scenario(
        "attended cancelled during the consultation",
        "attended",
        ("answer", "cancel", TICK, "transferer_hangup"),
        (A, A, F, F),
        "groupcallhandler/hangup.go:66-72, transferee.go:61-88",
    ),
    Scenario(
        "attended: the customer hangs up during the consultation (the agent and the transferee with them)",
        "attended",
        ("answer", "caller_hangup"),
        (A, F),
        "callhandler/hangup.go:89-101; transferer.go:70-75 still records the transferee",
    ),
    Scenario(
        "attended: the customer hangs up while ringing",
        "attended",
        ("caller_hangup",),
        (F,),
        "callhandler/hangup.go:89-101, transferer.go:58-68",
    ),
    Scenario(
        "blind: the customer hangs up while ringing",
        "blind",
        ("caller_hangup",),
        (F,),
        "callhandler/hangup.go:89-101, transferee.go:37-59",
    ),
    Scenario(
        "blind: the agent's call is the customer's master; hanging it up first drops the customer",
        "blind",
        ("answer",),
        (F,),
        "transferhandler/blind.go:90-95, callhandler/hangup.go:89-101",
        initial=F,
        master="agent",
    ),
    Scenario(
        "attended: the agent's call is the customer's master; the hand-over drops the customer",
        "attended",
        ("answer", "transferer_hangup"),
        (F, F),
        "transferer.go:70-83, callhandler/hangup.go:89-101",
        initial=F,
        master="agent",
    ),
    Scenario(
        "blind to an agent and a number: the agent answers through a nested groupcall",
        "blind",
        ("answer@0", "transferee_hangup"),
        (C, C),
        "groupcallhandler/start.go:112-147, answer.go:69-82; transferhandler/transfer.go:79-104",
        addresses=(AGENT, TEL),
    ),
    Scenario(
        "attended to an agent and a number: the agent answers (nested), then the transferer hangs up",
        "attended",
        ("answer@0", "transferer_hangup"),
        (A, F),
        "groupcallhandler/answer.go:69-82, transferer.go:58-68",
        addresses=(AGENT, TEL),
    ),
    Scenario(
        "attended to an extension and a number: the number answers, the nested groupcall is hung up",
        "attended",
        ("answer@1", "transferer_hangup"),
        (A, C),
        "groupcallhandler/answer.go:89-94, hangup.go:15-43, transferer.go:70-83",
        addresses=(EXTENSION, TEL),
    ),
    Scenario(
        "blind to one agent address: dialled directly, the answer reaches the groupcall",
        "blind",
        ("answer",),
        (C,),
        "groupcallhandler/start.go:102-110, dial.go:140-157",
        addresses=(AGENT,),
    ),
    Scenario(
        "blind without balance: the only call fails after the 200, the groupcall hangs up unanswered",
        "blind",
        (),
        (),
        "callhandler/outgoing_call.go:176-180, groupcallhandler/start.go:355-358",
        initial=F,
        addresses=(TEL,),
        customer=NO_BALANCE,
    ),
    Scenario(
        "blind ring-all with a failing member (identity): never hangs up, fails once nobody is left",
        "blind",
        ("no_answer", TICK),
        (F, F),
        "callhandler/validate.go:137-151, groupcallhandler/start.go:150-157, hangup.go:144-147",
        addresses=(SIP, TEL),
        customer=UNVERIFIED,
    ),
    Scenario(
        "attended ring-all with a failing member: the other member answers and is handed over",
        "attended",
        ("answer@0", "transferer_hangup"),
        (A, C),
        "groupcallhandler/start.go:150-157, transferer.go:70-83",
        addresses=(SIP, TEL),
        customer=UNVERIFIED,
    ),
    Scenario(
        "blind ring-all with an unsupported address type: fails after the 200, stuck once nobody answers",
        "blind",
        ("no_answer",),
        (F,),
        "callhandler/outgoing_call.go:147-150, groupcallhandler/start.go:150-157",
        addresses=(TEL, CONFERENCE),
    ),
    Scenario(
        "blind: a cancel after the groupcall ended sets it back to hangingup for good",
        "blind",
        ("no_answer", "cancel", TICK),
        (F, F, F),
        "groupcallhandler/hangup.go:45-75, dbhandler/groupcall.go:331-336",
    ),
    Scenario(
        "attended: the transferee left, then a cancel",
        "attended",
        ("answer", "transferee_hangup", "cancel", TICK),
        (A, F, F, F),
        "groupcallhandler/hangup.go:45-75, transferee.go:61-88",
    ),
    Scenario(
        "blind: a cancel racing the answer comes after it",
        "blind",
        ("answer", "cancel", TICK),
        (C, C, C),
        "transferee.go:111-135, groupcallhandler/hangup.go:66-72",
    ),
    Scenario(
        "blind ring-all with a failing member cancelled: stuck hangingup, failed",
        "blind",
        ("cancel", TICK),
        (A, F),
        "groupcallhandler/start.go:150-157, hangup.go:45-75, 144-147",
        addresses=(TEL, CONFERENCE),
    ),
    Scenario(
        "attended: a cancel racing the completion comes after it",
        "attended",
        ("answer", "transferer_hangup", "cancel", TICK),
        (A, C, C, C),
        "transferer.go:70-83, groupcallhandler/hangup.go:66-72",
    ),
]


def _hook(sandbox: TransferSandbox) -> VoipbinHook:
    conn = Connection(
        conn_id="voipbin_scenarios",
        conn_type="voipbin",
        host=sandbox.voipbin_url,
        password=sandbox.credentials.voipbin_access_key,
    )
    return VoipbinHook(connection=conn, policy={"backoff_initial": 0.0, "backoff_max": 0.01})


@pytest.fixture
def quiet_sandbox(transfer_sandbox: TransferSandbox) -> Iterator[TransferSandbox]:
    """No planned resolution (the events drive everything) and no rate limit."""
    transfer_sandbox.control.configure(**QUIET)
    yield transfer_sandbox


class Run:
    """One transfer created through the hook, driven through the control API, checked through the hook."""

    def __init__(
        self,
        sandbox: TransferSandbox,
        hook: VoipbinHook,
        kind: str,
        addresses: tuple[dict[str, str], ...] = (TEL, TEL2),
        master: str = "customer",
        customer: dict[str, Any] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.hook = hook
        sandbox.control.configure(**{**CUSTOMER, **(customer or {})})
        call = sandbox.control.create_voipbin_call(master=master)
        self.transfer = hook.create_transfer(kind, call["id"], list(addresses)).to_xcom()
        self.id = self.transfer["id"]

    def apply(self, event: str) -> bool:
        """Apply ``event`` (``answer@i``: the call of address ``i`` answers); ``False`` when it cannot happen now
        (409 from the control API)."""
        if event == TICK:
            self.sandbox.control.advance_clock(0.3)
            return True
        name, _, address = event.partition("@")
        try:
            self.sandbox.control.voipbin_event(self.id, name, int(address) if address else None)
        except RuntimeError as exc:
            if "409" in str(exc):
                return False
            raise
        return True

    def statuses(self) -> tuple[str, str, dict[str, Any]]:
        """(ground truth, derived status, the check's evidence)."""
        truth = self.sandbox.control.transfer(self.id)["status"]
        check = self.hook.check_transfer(self.transfer)
        return truth, check.status.value, check.evidence


@pytest.mark.parametrize("wire", WIRES)
def test_scenario_table(quiet_sandbox: TransferSandbox, wire: str) -> None:
    quiet_sandbox.control.configure(voipbin_wire=wire)
    hook = _hook(quiet_sandbox)
    observed = []
    for s in SCENARIOS:
        run = Run(quiet_sandbox, hook, s.kind, s.addresses, s.master, s.customer)
        first = run.statuses()
        assert first[:2] == (s.initial, s.initial), f"{s.case}: at the start {first[:2]}"
        truths, derived = [], []
        for event in s.events:
            assert run.apply(event), f"{s.case}: {event} refused"
            truth, status, evidence = run.statuses()
            truths.append(truth)
            derived.append(status)
            if status != A:
                assert evidence["decided_by"], f"{s.case}: a terminal status names the facts that decided it"
        assert truths == derived, f"{s.case} ({s.source}): ground truth {truths} != derived {derived}"
        observed.append((s.case, tuple(derived)))
    assert observed == [(s.case, s.after) for s in SCENARIOS]
    hook.close()


def test_every_scenario_names_its_source() -> None:
    assert all(".go:" in s.source for s in SCENARIOS)
    required = ("caller_hangup", "answer@0", "cancel")
    assert all(any(e in s.events for s in SCENARIOS) for e in required)
    assert {"agent"} <= {s.master for s in SCENARIOS}
    assert any(s.customer for s in SCENARIOS) and any(CONFERENCE in s.addresses for s in SCENARIOS)


def test_what_the_transfer_manager_records_is_not_what_happened(quiet_sandbox: TransferSandbox) -> None:
    """transferer.go:70-75 sets transferee_call_id when the chained hang-up reaches the agent, though the
    customer had hung up; a nested answer is recorded nowhere. The derivation does not read the record."""
    hook = _hook(quiet_sandbox)
    left = Run(quiet_sandbox, hook, "attended")
    left.apply("answer")
    left.apply("caller_hangup")
    truth = quiet_sandbox.control.transfer(left.id)
    assert truth["status"] == F and truth["transfer"]["transferee_call_id"] == truth["groupcall"]["answer_call_id"]
    assert {truth["transferer_call"]["status"], truth["customer_call"]["status"]} == {"hangup"}
    assert truth["transferer_call"]["tm_hangup"] > truth["customer_call"]["tm_hangup"]
    nested = Run(quiet_sandbox, hook, "blind", (AGENT, TEL))
    nested.apply("answer@0")
    truth = quiet_sandbox.control.transfer(nested.id)
    assert truth["status"] == C and truth["transfer"]["transferee_call_id"] == "00000000-0000-0000-0000-000000000000"
    assert truth["groupcall"]["answer_call_id"] == "00000000-0000-0000-0000-000000000000"
    [inner] = truth["nested_groupcalls"]
    assert (
        inner["master_groupcall_id"] == truth["groupcall"]["id"]
        and inner["answer_call_id"] != truth["groupcall"]["answer_call_id"]
    )
    hook.close()


def test_a_failed_member_leaves_the_groupcall_progressing_for_good(quiet_sandbox: TransferSandbox) -> None:
    """start.go:150-157 counts a member call that could not be created off groupcall_count, so call_count
    never reaches 0 and hangup.go:144-147 never hangs the groupcall up; the sum says nobody is left."""
    hook = _hook(quiet_sandbox)
    run = Run(quiet_sandbox, hook, "blind", (SIP, TEL), customer=UNVERIFIED)
    groupcall = quiet_sandbox.control.transfer(run.id)["groupcall"]
    assert (groupcall["call_count"], groupcall["groupcall_count"]) == (2, -1)
    run.apply("no_answer")
    quiet_sandbox.control.advance_clock(24 * 3600)
    groupcall = quiet_sandbox.control.transfer(run.id)["groupcall"]
    assert (groupcall["status"], groupcall["call_count"], groupcall["groupcall_count"]) == ("progressing", 1, -1)
    check = hook.check_transfer(run.transfer)
    assert check.status is TransferStatus.FAILED
    assert check.evidence["decided_by"][0] == "groupcall.call_count+groupcall_count<=0"
    hook.close()


def test_scenario_checks_cost_only_the_needed_requests(quiet_sandbox: TransferSandbox) -> None:
    """Blind: 1 request per check (+1 per nested groupcall while unanswered); attended: 2, and 4 only at the
    check that sees the agent hung up after an answer (the answering call, then the customer's)."""
    hook = _hook(quiet_sandbox)

    def cost(run: Run) -> int:
        before = hook.api.stats["requests"]
        check = run.hook.check_transfer(run.transfer)
        assert hook.check_cost(hook.transfer_ref(run.transfer)) in (1.0, 2.0) or check.status is TransferStatus.ACTIVE
        return int(hook.api.stats["requests"] - before)

    blind = Run(quiet_sandbox, hook, "blind")
    assert cost(blind) == 1
    blind.apply("answer")
    assert cost(blind) == 1
    nested = Run(quiet_sandbox, hook, "blind", (AGENT, TEL, EXTENSION))
    assert cost(nested) == 3
    assert hook.check_cost(hook.transfer_ref(nested.transfer)) == 3.0  # learned for the poll budget
    attended = Run(quiet_sandbox, hook, "attended")
    assert cost(attended) == 2
    attended.apply("transferer_hangup")
    assert cost(attended) == 2  # hung up, nobody answered: failed without the answering call
    handed = Run(quiet_sandbox, hook, "attended")
    handed.apply("answer")
    assert cost(handed) == 2
    handed.apply("transferer_hangup")
    assert cost(handed) == 4
    hook.close()


EVENT_NAMES = (
    "answer",
    "answer@0",
    "answer@1",
    "no_answer",
    "transferee_hangup",
    "transferer_hangup",
    "caller_hangup",
    "cancel",
    TICK,
)
SETUPS = {
    "two numbers": ((TEL, TEL2), "customer", {}),
    "agent and number (nested)": ((AGENT, TEL), "customer", {}),
    "failing member (identity)": ((SIP, TEL), "customer", UNVERIFIED),
    "unsupported member": ((TEL, CONFERENCE), "customer", {}),
    "agent is the master": ((TEL, TEL2), "agent", {}),
}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(("blind", "attended")),
    wire=st.sampled_from(WIRES),
    setup=st.sampled_from(sorted(SETUPS)),
    events=st.lists(st.sampled_from(EVENT_NAMES), min_size=1, max_size=7),
)
@example(kind="attended", wire="current", setup="two numbers", events=["transferer_hangup", "answer"])
@example(
    kind="attended", wire="legacy", setup="two numbers", events=["answer", "transferee_hangup", "transferer_hangup"]
)
@example(kind="blind", wire="legacy", setup="two numbers", events=["cancel", "answer", "transferee_hangup"])
@example(kind="attended", wire="current", setup="two numbers", events=["answer", "caller_hangup", "transferer_hangup"])
@example(
    kind="blind",
    wire="legacy",
    setup="agent and number (nested)",
    events=["answer@0", "transferee_hangup", "no_answer"],
)
@example(
    kind="attended",
    wire="current",
    setup="agent and number (nested)",
    events=["answer@0", "answer@1", "transferer_hangup"],
)
@example(kind="blind", wire="current", setup="failing member (identity)", events=["no_answer", "cancel", "cancel"])
@example(kind="attended", wire="legacy", setup="unsupported member", events=["answer", "transferee_hangup", "cancel"])
@example(kind="blind", wire="current", setup="agent is the master", events=["answer", "caller_hangup"])
def test_no_terminal_status_ever_turns_into_the_other(
    quiet_sandbox: TransferSandbox, kind: str, wire: str, setup: str, events: list[str]
) -> None:
    """Random event orders, chained hang-ups, nested answers and late failures included: the derived status
    equals the ground truth after every event, and once terminal it never changes (a cancel is followed by a
    tick: see the docs on the hanging-up window)."""
    quiet_sandbox.control.configure(voipbin_wire=wire)
    hook = _hook(quiet_sandbox)
    addresses, master, customer = SETUPS[setup]
    run = Run(quiet_sandbox, hook, kind, addresses, master, customer)
    terminal: str | None = None
    for event in ["start", *events]:
        if event != "start" and not run.apply(event):
            continue
        if event == "cancel":
            run.apply(TICK)
        truth, status, _ = run.statuses()
        assert status == truth, f"{setup} {events}: after {event} derived {status}, truth {truth}"
        if terminal is not None:
            assert status == terminal, f"{setup} {events}: {terminal} turned into {status} after {event}"
        if TransferStatus(status).is_terminal:
            terminal = status
    hook.close()
