"""Every VoIPbin transfer scenario as one table: the sandbox's ground truth and the status the hook derives,
after each event and at the end, on both wire formats; then a property test over random event orders.

Ground truth is "did the caller end up with the transferee?", recorded by the sandbox at the event that
decides it (``sandbox/voipbin_state.py``). The derivation reads only what a client can read (groupcall,
calls, their timestamps). Sources (``voipbin/monorepo`` at 2bf22fa4, ``bin-transfer-manager/pkg/
transferhandler/``): blind.go:90-132 (agent hung up first), transferee.go:45-58 (blind, nobody answered:
the caller's conference is torn down), transferee.go:62-88 (attended, transferee left: agent back with
the caller), transferee.go:137-142 (attended answer: nothing done), transferer.go:58-80 (attended, agent
hung up: before an answer, conference torn down; after, handed over).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import Connection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_transfers.hooks.voipbin import VoipbinHook
from airflow_provider_transfers.models import TransferStatus
from airflow_provider_transfers.sandbox.server import TransferSandbox

ADDRESSES = [{"type": "tel", "target": "+15550001111"}, {"type": "tel", "target": "+15550002222"}]
WIRES = ("current", "legacy")
TICK = "tick"
"""Not a platform event: let the sandbox clock pass 0.3 s (a cancelled groupcall finishes hanging up)."""

A, C, F = "active", "completed", "failed"

# (case, transfer type, events, status after each event (truth == derived), final)
SCENARIOS: list[tuple[str, str, list[str], list[str], str]] = [
    ("blind answered", "blind", ["answer"], [C], C),
    ("blind answered, transferee hangs up later", "blind", ["answer", "transferee_hangup"], [C, C], C),
    ("blind unanswered", "blind", ["no_answer"], [F], F),
    ("blind cancelled", "blind", ["cancel", TICK], [A, F], F),
    ("attended consulting", "attended", ["answer"], [A], A),
    ("attended completed", "attended", ["answer", "transferer_hangup", "transferee_hangup"], [A, C, C], C),
    # transferer.go:58-68: the conference is torn down; the later answer is ignored (was: failed -> completed)
    ("attended agent left before answer", "attended", ["transferer_hangup", "answer"], [F, F], F),
    # transferee.go:62-88: agent back with the caller; the hang-up connects nobody (was: active -> completed)
    (
        "attended transferee left during consultation",
        "attended",
        ["answer", "transferee_hangup", "transferer_hangup"],
        [A, F, F],
        F,
    ),
    ("attended cancelled while ringing", "attended", ["cancel", TICK, "transferer_hangup"], [A, F, F], F),
    (
        "attended cancelled during consultation",
        "attended",
        ["answer", "cancel", TICK, "transferer_hangup"],
        [A, A, F, F],
        F,
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
    transfer_sandbox.control.configure(rate_limit=False, transfer_delay_min_s=3600, transfer_delay_max_s=3600)
    yield transfer_sandbox


class Run:
    """One transfer created through the hook, driven through the control API, checked through the hook."""

    def __init__(self, sandbox: TransferSandbox, hook: VoipbinHook, transfer_type: str) -> None:
        self.sandbox = sandbox
        self.hook = hook
        call = sandbox.control.create_voipbin_call()
        self.transfer = hook.create_transfer(transfer_type, call["id"], ADDRESSES).to_xcom()
        self.id = self.transfer["id"]

    def apply(self, event: str) -> bool:
        """Apply ``event``; ``False`` when it cannot happen now (409 from the control API)."""
        if event == TICK:
            self.sandbox.control.advance_clock(0.3)
            return True
        try:
            self.sandbox.control.voipbin_event(self.id, event)
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
    for case, transfer_type, events, _, _ in SCENARIOS:
        run = Run(quiet_sandbox, hook, transfer_type)
        assert run.statuses()[:2] == (A, A), case
        truths, derived = [], []
        for event in events:
            assert run.apply(event), f"{case}: {event} refused"
            truth, status, evidence = run.statuses()
            truths.append(truth)
            derived.append(status)
            if status != A:
                assert evidence["decided_by"], f"{case}: a terminal status names the facts that decided it"
        observed.append((case, transfer_type, events, derived, truths[-1]))
        assert truths == derived, f"{case}: ground truth {truths} != derived {derived}"
    assert observed == [(case, kind, events, after, final) for case, kind, events, after, final in SCENARIOS]
    hook.close()


def test_scenario_table_costs_only_the_needed_requests(quiet_sandbox: TransferSandbox) -> None:
    """Blind: 1 request per check; attended: 2, and 3 only once the agent hung up after an answer."""
    hook = _hook(quiet_sandbox)

    def cost(run: Run) -> int:
        before = hook.api.stats["requests"]
        run.hook.check_transfer(run.transfer)
        return int(hook.api.stats["requests"] - before)

    blind = Run(quiet_sandbox, hook, "blind")
    assert cost(blind) == 1
    blind.apply("answer")
    assert cost(blind) == 1
    attended = Run(quiet_sandbox, hook, "attended")
    assert cost(attended) == 2
    attended.apply("transferer_hangup")
    assert cost(attended) == 2  # hung up, nobody answered: failed without the answering call
    attended.apply("answer")
    assert cost(attended) == 3
    hook.close()


EVENT_NAMES = ("answer", "no_answer", "transferee_hangup", "transferer_hangup", "cancel", TICK)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    transfer_type=st.sampled_from(("blind", "attended")),
    wire=st.sampled_from(WIRES),
    events=st.lists(st.sampled_from(EVENT_NAMES), min_size=1, max_size=6),
)
@example(transfer_type="attended", wire="current", events=["transferer_hangup", "answer"])
@example(transfer_type="attended", wire="legacy", events=["answer", "transferee_hangup", "transferer_hangup"])
@example(transfer_type="blind", wire="legacy", events=["cancel", "answer", "transferee_hangup"])
def test_no_terminal_status_ever_turns_into_the_other(
    quiet_sandbox: TransferSandbox, transfer_type: str, wire: str, events: list[str]
) -> None:
    """Random event orders: the derived status equals the ground truth after every event, and once
    terminal it never changes (a cancel is followed by a tick: see the README on the hanging-up window)."""
    quiet_sandbox.control.configure(voipbin_wire=wire)
    hook = _hook(quiet_sandbox)
    run = Run(quiet_sandbox, hook, transfer_type)
    terminal: str | None = None
    for event in events:
        if not run.apply(event):
            continue
        if event == "cancel":
            run.apply(TICK)
        truth, status, _ = run.statuses()
        assert status == truth, f"{events}: after {event} derived {status}, truth {truth}"
        if terminal is not None:
            assert status == terminal, f"{events}: {terminal} turned into {status} after {event}"
        if TransferStatus(status).is_terminal:
            terminal = status
    hook.close()
