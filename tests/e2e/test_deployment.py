"""A real Airflow deployment, driven only through its REST API: connections, example DAGs, triggerer crash."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.deployment import DAGS_FOLDER, Deployment
from tests.harness.processes import free_port, wait_for
from tests.harness.runs import (
    WatchedRun,
    poll,
    task_log,
    trigger,
    wait_finished,
    wait_task_state,
    wait_until_parsed,
    xcom,
)

pytestmark = pytest.mark.e2e

# Labels as scripts/demo_plan.py names its runs, in the order they must run (audits read the reports).
DEMO_LABELS = [
    "twilio_flex_transfer",
    "voipbin_transfer",
    "reconcile_twilio_flex",
    "reconcile_sharded",
    "reconcile_voipbin",
    "audit_transfers (twilio_flex)",
    "audit_transfers (voipbin)",
]
# Tasks that wait in the triggerer (deferrable=True) in the example DAGs.
DEFERRABLE = {"twilio_flex_transfer": ["wait_for_transfer"]}
FIRED = "Trigger fired event"


def _example_dag_ids() -> list[str]:
    return sorted(p.stem for p in DAGS_FOLDER.glob("*.py") if p.name != "__init__.py")


@pytest.fixture(scope="session")
def demo_runs(sandbox: Any, artifacts: Path, deployment: Deployment) -> dict[str, Any]:
    """The demo's runs (conf and sandbox set-up), keyed by label; records/reports under artifacts/data."""
    from scripts.demo_plan import plan

    runs = {run.label or run.dag_id: run for run in plan(sandbox, artifacts / "data")}
    wait_until_parsed(deployment, _example_dag_ids())
    return runs


# ---------------------------------------------------------------------------------------- connections


def _twilio_body(sandbox: Any, **changes: Any) -> dict[str, Any]:
    creds = sandbox.credentials
    body = {
        "connection_id": "e2e_twilio_flex",
        "conn_type": "twilio_flex",
        "login": creds.twilio_account_sid,
        "password": creds.twilio_auth_token,
        "host": sandbox.twilio_url,
        "extra": json.dumps({"account_sid": creds.twilio_account_sid, "max_attempts": 1}),
    }
    return {**body, **changes}


def _voipbin_body(sandbox: Any, **changes: Any) -> dict[str, Any]:
    body = {
        "connection_id": "e2e_voipbin",
        "conn_type": "voipbin",
        "password": sandbox.credentials.voipbin_access_key,
        "host": sandbox.voipbin_url,
        "extra": json.dumps({"max_attempts": 1}),
    }
    return {**body, **changes}


BODIES = {"twilio_flex": _twilio_body, "voipbin": _voipbin_body}


@pytest.mark.parametrize("conn_type", ["twilio_flex", "voipbin"])
def test_connections_created_through_the_api_are_stored_with_their_type(
    deployment: Deployment, sandbox: Any, conn_type: str
) -> None:
    body = BODIES[conn_type](sandbox)
    deployment.api("DELETE", f"/connections/{body['connection_id']}")
    created = deployment.api("POST", "/connections", json=body)
    assert created.status_code == 201, created.text
    stored = deployment.api_json("GET", f"/connections/{body['connection_id']}")
    assert (stored["conn_type"], stored["host"]) == (conn_type, body["host"])
    assert stored["password"] != body["password"], "the API must not hand the secret back"


EXPECTED = {
    ("twilio_flex", "ok"): (True, r"^Connected to Twilio Flex at http://127\.0\.0\.1:\d+ as account AC(5a){16}$"),
    ("twilio_flex", "bad secret"): (False, r"^Bad credentials: twilio_flex rejected the login/password"),
    ("twilio_flex", "unreachable"): (False, r"^Cannot reach http://127\.0\.0\.1:\d+"),
    ("voipbin", "ok"): (True, r"^Connected to VoIPbin at http://127\.0\.0\.1:\d+/v1\.0 with an access key$"),
    ("voipbin", "bad secret"): (False, r"^Bad credentials: VoIPbin rejected the access key"),
    ("voipbin", "unreachable"): (False, r"^Cannot reach http://127\.0\.0\.1:\d+"),
}


@pytest.mark.parametrize(("conn_type", "case"), list(EXPECTED))
def test_connection_test_endpoint_tells_ok_bad_secret_and_unreachable_apart(
    deployment: Deployment, sandbox: Any, conn_type: str, case: str
) -> None:
    changes: dict[str, Any] = {"connection_id": f"e2e_probe_{conn_type}"}  # not stored: the body is tested
    if case == "bad secret":
        changes["password"] = "not-the-secret"
    if case == "unreachable":
        closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        changes["host"] = closed if conn_type == "twilio_flex" else f"{closed}/v1.0"
    response = deployment.api("POST", "/connections/test", json=BODIES[conn_type](sandbox, **changes))
    assert response.status_code == 200, response.text
    answer = response.json()
    status, pattern = EXPECTED[(conn_type, case)]
    assert answer["status"] is status, answer
    assert re.search(pattern, answer["message"]), f"{conn_type}/{case}: {answer['message']!r} !~ {pattern!r}"
    assert "not-the-secret" not in answer["message"]


# ---------------------------------------------------------------------------------------- example DAGs


def test_the_demo_plan_covers_every_example_dag(demo_runs: dict[str, Any], deployment: Deployment) -> None:
    assert list(demo_runs) == DEMO_LABELS
    assert sorted({run.dag_id for run in demo_runs.values()}) == _example_dag_ids()
    assert deployment.api_json("GET", "/importErrors")["total_entries"] == 0


def _trigger_log(deployment: Deployment, run: WatchedRun) -> list[dict[str, Any]]:
    """What the triggerer(s) logged for this run's triggers (``<task log>.trigger.<id>.log``, JSON lines)."""
    folder = deployment.logs / "tasks" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}"
    events: list[dict[str, Any]] = []
    for path in sorted(folder.glob("task_id=*/*.trigger.*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                events.append({**json.loads(line), "file": path.name})
    return events


def _fired(deployment: Deployment, run: WatchedRun) -> list[dict[str, Any]]:
    return [e for e in _trigger_log(deployment, run) if e.get("event") == FIRED]


@pytest.mark.parametrize("label", DEMO_LABELS)
def test_example_dag_succeeds_when_triggered_through_the_api(
    deployment: Deployment, sandbox: Any, demo_runs: dict[str, Any], label: str
) -> None:
    plan = demo_runs[label]
    delays = {k: v for k, v in sandbox.control.config().items() if k.startswith("transfer_delay_")}
    if DEFERRABLE.get(plan.dag_id):  # transfers stay active long enough to be seen deferred on a busy machine
        sandbox.control.configure(transfer_delay_min_s=20.0, transfer_delay_max_s=25.0)
    try:
        run = trigger(deployment, plan.dag_id, plan.conf)
        wait_finished(deployment, run, timeout=300)
    finally:
        sandbox.control.configure(**delays)
    failed = {ti["task_id"]: ti["state"] for ti in run.task_instances if ti["state"] != "success"}
    assert run.state == "success", (
        f"{label}: run {run.state}, tasks not successful: {failed}; seen {dict(run.seen)}\n"
        + "\n".join(task_log(deployment, run, t)[-3000:] for t in failed)
    )
    assert not failed
    for task_id in DEFERRABLE.get(plan.dag_id, []):
        assert "deferred" in run.seen[task_id], f"{task_id} was never seen deferred: {run.seen[task_id]}"
        fired = _fired(deployment, run)
        assert len(fired) == 1, f"expected one {FIRED!r} in the trigger log of {run.run_id}: {fired}"
        assert task_id in fired[0]["name"] and "'status': 'success'" in fired[0]["result"], fired[0]
    if plan.dag_id == "twilio_flex_transfer":
        # What the sensor returned after the trigger fired is the sandbox's ground truth.
        created, waited = xcom(deployment, run, "create_transfer"), xcom(deployment, run, "wait_for_transfer")
        truth = sandbox.control.transfer(created["sid"])
        assert truth["status"] == "completed" == waited["status"], (truth, waited)


# ---------------------------------------------------------------------------------------- triggerer crash


def test_triggerer_killed_during_a_wait_is_replaced_and_the_task_succeeds_once(
    deployment: Deployment, sandbox: Any
) -> None:
    """SIGKILL the triggerer while a transfer is active (~40 s); a new triggerer resumes the wait."""
    channel = sandbox.control.create_twilio_interaction()
    conf = {"interaction_sid": channel["interaction_sid"], "channel_sid": channel["channel_sid"]}
    sandbox.control.configure(transfer_delay_min_s=40.0, transfer_delay_max_s=40.0)
    try:
        run = trigger(deployment, "twilio_flex_transfer", conf)
        wait_task_state(deployment, run, "create_transfer", "success", timeout=180)
    finally:
        sandbox.control.configure(transfer_delay_min_s=4.0, transfer_delay_max_s=6.0)
    transfer_sid = xcom(deployment, run, "create_transfer")["sid"]
    wait_task_state(deployment, run, "wait_for_transfer", "deferred", timeout=120)

    old = deployment.triggerer
    # The trigger is running once this triggerer logged it starting; a few polls (every 2 s) then pass.
    wait_for(
        lambda: any(e["event"].endswith(" starting") for e in _trigger_log(deployment, run)),
        90,
        lambda: f"the triggerer never started the trigger of {run.run_id}\n{old.tail()}",
    )
    time.sleep(5)
    assert sandbox.control.transfer(transfer_sid)["status"] not in ("completed", "failed")
    old.kill()
    assert not old.alive()
    killed_at = datetime.now(UTC)
    assert _fired(deployment, run) == [], "the trigger fired before the kill: no crash tested"

    poll(deployment, run)
    assert run.seen["wait_for_transfer"][-1] == "deferred", run.seen
    new = deployment.start("triggerer")
    assert new is deployment.triggerer and new.pid != old.pid
    wait_finished(deployment, run, timeout=240)

    assert run.state == "success", f"run {run.state}; seen {dict(run.seen)}\n{new.tail()}"
    wait_ti = next(ti for ti in run.task_instances if ti["task_id"] == "wait_for_transfer")
    assert wait_ti["try_number"] == 1, "the wait must resume, not be retried"
    assert xcom(deployment, run, "wait_for_transfer")["status"] == "completed"
    fired = _fired(deployment, run)
    assert len(fired) == 1, f"expected exactly one fired event: {fired}"
    assert datetime.fromisoformat(fired[0]["timestamp"]) > killed_at, "the event predates the kill"
    assert "'status': 'success'" in fired[0]["result"], fired[0]
    starts = [e for e in _trigger_log(deployment, run) if e["event"].endswith(" starting")]
    assert len(starts) == 2, f"the trigger should start once per triggerer: {starts}"
    assert sandbox.control.transfer(transfer_sid)["status"] == "completed"
