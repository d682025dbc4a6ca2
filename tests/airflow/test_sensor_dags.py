"""The transfer sensor and the waiting operator in real DAG runs (``dag.test()``, trigger run in-process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import DagRunResult

TWILIO = "twilio_flex_default"
VOIPBIN = "voipbin_default"


@pytest.fixture
def sandbox(transfer_sandbox: Any, connection_env: Callable[..., None]) -> Any:
    connection_env(transfer_sandbox.connection_env())
    return transfer_sandbox


def try_number(result: DagRunResult, task_id: str) -> int:
    return int(result.dag_run.get_task_instance(task_id).try_number)


@pytest.mark.parametrize(
    ("conn_id", "platform", "transfer_type"),
    [(TWILIO, "twilio_flex", "warm"), (VOIPBIN, "voipbin", "blind"), (VOIPBIN, "voipbin", "attended")],
)
def test_deferrable_sensor_reaches_success(
    sandbox: Any, run_dag: Callable[..., DagRunResult], conn_id: str, platform: str, transfer_type: str
) -> None:
    extra = {"auto_complete_after": 0.2} if transfer_type == "attended" else {}
    [transfer] = sandbox.control.seed(platform, transfer_type=transfer_type, outcome="completed", delay_s=1, **extra)

    result = run_dag("sensor_deferrable", conf={"conn_id": conn_id, "transfer": transfer})

    assert result.state == "success", result.task_state("wait")
    check = result.xcom("wait")
    assert check["status"] == "completed" and check["platform"] == platform
    assert check["transfer_id"] == transfer.get("sid", transfer.get("id"))


def test_failed_transfer_fails_the_task_without_retry(sandbox: Any, run_dag: Callable[..., DagRunResult]) -> None:
    [transfer] = sandbox.control.seed("twilio_flex", outcome="failed", delay_s=0.6)

    result = run_dag("sensor_deferrable", conf={"conn_id": TWILIO, "transfer": transfer})

    assert result.task_state("wait") == "failed"
    assert try_number(result, "wait") == 1  # retries=2 in the DAG, none used


def test_list_with_one_failure_fails_naming_it(
    sandbox: Any, run_dag: Callable[..., DagRunResult], capfd: pytest.CaptureFixture[str]
) -> None:
    good = sandbox.control.seed("voipbin", 2, outcome="completed", delay_s=0.4)
    [bad] = sandbox.control.seed("voipbin", outcome="failed", delay_s=0.6)

    result = run_dag("sensor_deferrable", conf={"conn_id": VOIPBIN, "transfer": [*good, bad]})

    assert result.task_state("wait") == "failed" and try_number(result, "wait") == 1
    out = capfd.readouterr()
    failure_lines = [line for line in (out.out + out.err).splitlines() if "AirflowFailException: 1 of 3" in line]
    assert failure_lines, "the task did not fail with the sensor's message"
    assert bad["id"] in failure_lines[-1] and all(t["id"] not in failure_lines[-1] for t in good)


def test_reschedule_mode_reaches_success(sandbox: Any, run_dag: Callable[..., DagRunResult]) -> None:
    # The transfer stays active until the sensor has poked once, then completes: the rescheduled poke must
    # see it. (A fixed delay raced the seconds it takes to parse the dags folder and start the task.)
    [transfer] = sandbox.control.seed("twilio_flex", outcome="completed", delay_s=3600)

    def complete_after_first_poke() -> None:
        deadline = time.monotonic() + 120
        while sandbox.control.stats()["platforms"].get("twilio_flex", {}).get("total", 0) < 1:
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
        sandbox.control.set_outcome(transfer["sid"], "completed")

    completer = threading.Thread(target=complete_after_first_poke, daemon=True)
    completer.start()
    result = run_dag("sensor_reschedule", conf={"conn_id": TWILIO, "transfer": transfer})
    completer.join(timeout=10)

    assert result.state == "success"
    assert result.xcom("wait")["status"] == "completed"
    reschedules = sandbox.control.stats()["platforms"]["twilio_flex"]["total"]
    assert reschedules >= 2  # it was rescheduled at least once before the transfer completed


def test_update_waits_in_the_triggerer_then_sensor_reads_the_create_xcom(
    sandbox: Any, run_dag: Callable[..., DagRunResult]
) -> None:
    sandbox.control.configure(success_rate=1.0, transfer_delay_min_s=0.5, transfer_delay_max_s=1.0)
    channel = sandbox.control.create_twilio_interaction()

    result = run_dag(
        "sensor_twilio_pipeline",
        conf={"interaction_sid": channel["interaction_sid"], "channel_sid": channel["channel_sid"]},
    )

    assert result.state == "success", {t: result.task_state(t) for t in ("create", "update", "sense")}
    created, updated, sensed = result.xcom("create"), result.xcom("update"), result.xcom("sense")
    assert updated["sid"] == created["sid"] and updated["final_check"]["status"] == "completed"
    assert sensed["transfer_id"] == created["sid"] and sensed["status"] == "completed"
