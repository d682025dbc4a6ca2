"""DAG runs through the REST API: trigger, watch every task instance's state, wait for the end."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.harness.airflow import AirflowDeployment

FINISHED = ("success", "failed")


@dataclass
class WatchedRun:
    dag_id: str
    run_id: str
    state: str = "queued"
    seen: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """Every state observed per task (``task_id``, or ``task_id[map_index]`` when mapped), in order, without
    repeats."""
    task_instances: list[dict[str, Any]] = field(default_factory=list)

    def record(self, tis: list[dict[str, Any]]) -> None:
        self.task_instances = tis
        for ti in tis:
            states = self.seen[ti_key(ti)]
            state = str(ti.get("state"))
            if not states or states[-1] != state:
                states.append(state)


def ti_key(ti: dict[str, Any]) -> str:
    """``task_id``, or ``task_id[map_index]`` for a mapped task instance."""
    index = ti.get("map_index", -1)
    return ti["task_id"] if index is None or index < 0 else f"{ti['task_id']}[{index}]"


def wait_until_parsed(deployment: AirflowDeployment, dag_ids: list[str], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    missing = list(dag_ids)
    while missing:
        missing = [d for d in dag_ids if deployment.api("GET", f"/dags/{d}").status_code != 200]
        if not missing:
            return
        if time.monotonic() > deadline:
            errors = deployment.api_json("GET", "/importErrors")
            raise AssertionError(
                f"DAGs {missing} not parsed after {timeout:.0f}s; import errors: {errors}\n"
                f"{deployment.components['dag-processor'].tail()}"
            )
        time.sleep(2)


def trigger(deployment: AirflowDeployment, dag_id: str, conf: dict[str, Any]) -> WatchedRun:
    deployment.api_json("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    run = deployment.api_json("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
    return WatchedRun(dag_id, run["dag_run_id"])


def poll(deployment: AirflowDeployment, run: WatchedRun) -> None:
    base = f"/dags/{run.dag_id}/dagRuns/{run.run_id}"
    # Up to the API's [api] maximum_page_limit (100 by default; the cluster tier raises it).
    run.record(deployment.api_json("GET", f"{base}/taskInstances", params={"limit": 1000})["task_instances"])
    run.state = str(deployment.api_json("GET", base)["state"])


def wait_finished(
    deployment: AirflowDeployment, run: WatchedRun, timeout: float = 300.0, interval: float = 0.5
) -> None:
    """Poll the run and its task instances every ``interval`` seconds until the run ends."""
    deadline = time.monotonic() + timeout
    while True:
        poll(deployment, run)
        if run.state in FINISHED:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{run.dag_id} run {run.run_id} still {run.state} after {timeout:.0f}s; "
                f"task states seen: {dict(run.seen)}\n{deployment.diagnostics()}"
            )
        time.sleep(interval)


def wait_task_state(
    deployment: AirflowDeployment, run: WatchedRun, task_id: str, state: str, timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    while state not in run.seen.get(task_id, []):
        if run.state in FINISHED or time.monotonic() > deadline:
            raise AssertionError(
                f"{run.dag_id}.{task_id} never reached {state!r} (run {run.state}); seen: {dict(run.seen)}\n"
                f"{deployment.diagnostics()}"
            )
        time.sleep(0.5)
        poll(deployment, run)


def task_log(deployment: AirflowDeployment, run: WatchedRun, task_id: str, try_number: int = 1) -> str:
    """The task's log as the API serves it: one JSON object per line (it refuses ``text/plain``)."""
    path = f"/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/{task_id}/logs/{try_number}"
    params = {"full_content": "true"}
    response = deployment.api("GET", path, params=params, headers={"Accept": "application/x-ndjson"})
    return response.text


def xcom(
    deployment: AirflowDeployment, run: WatchedRun, task_id: str, key: str = "return_value", map_index: int = -1
) -> Any:
    path = f"/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/{task_id}/xcomEntries/{key}"
    return deployment.api_json("GET", path, params={"deserialize": "true", "map_index": map_index})["value"]
