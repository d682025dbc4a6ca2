"""The cluster tier's Airflow, as production runs it: a Postgres metadata database, the CeleryExecutor
with Redis as broker, two Celery workers and two triggerers besides the api-server, scheduler and
dag-processor, all run by ``.venv-cluster`` (the built wheel, not the checkout).

Every process runs from ``home`` (never the checkout, whose directory would put the source package on
``sys.path``) with ``tests/cluster/site`` as its only ``PYTHONPATH``. Each worker and triggerer is named
as a host of its own (``CLUSTER_HOSTNAME``, read by ``[core] hostname_callable``) and each worker gets a
temp dir of its own, as separate machines would; the report volume (``shared``) is the only directory
the workers share.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness.airflow import COMMANDS, AirflowDeployment
from tests.harness.processes import Component, wait_for

SITE = Path(__file__).resolve().parent / "site"
CORE = ("api-server", "scheduler", "dag-processor")
WORKERS = ("worker-1", "worker-2")
TRIGGERERS = ("triggerer-1", "triggerer-2")
WORKER_CONCURRENCY = 3
"""Task slots per worker: fewer than the reconciliation's 4 shards, so the shards use both workers."""
TRIGGERER_CAPACITY = 150
"""Triggers per triggerer: fewer than the 200 waits of the fan-out test, so both triggerers hold some."""
HEALTH_THRESHOLD_S = 8
"""A triggerer whose heartbeat is older than this is dead: the other adopts its triggers."""
TASK_HEARTBEAT_TIMEOUT_S = 15
"""A task whose heartbeat is older than this (its worker died) is failed, and retried if it may be."""


class ClusterDeployment(AirflowDeployment):
    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        extra_env: dict[str, str],
        *,
        python: str,
        database_url: str,
        broker_url: str,
    ) -> None:
        self.database_url, self.broker_url = database_url, broker_url
        self._log_offsets: dict[str, int] = {}
        super().__init__(home, dags_folder, extra_env, python=python, cwd=home)

    def settings(self) -> dict[str, str]:
        return {
            "PYTHONPATH": str(SITE),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "cluster_hostname.hostname",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "32",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.database_url}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            "AIRFLOW__TRIGGERER__CAPACITY": str(TRIGGERER_CAPACITY),
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_THRESHOLD_S),
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "1000",
        }

    def start(self, key: str) -> Component:
        """``api-server``, ``scheduler``, ``dag-processor``, ``worker-N`` or ``triggerer-N``."""
        if key in CORE:
            return self.launch(key, COMMANDS[key])
        env = {"CLUSTER_HOSTNAME": key}
        log = self.logs / f"{key}.log"
        self._log_offsets[key] = log.stat().st_size if log.exists() else 0
        if key.startswith("worker-"):
            tmp = self.home / "hosts" / key / "tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            env["TMPDIR"] = str(tmp)
            args = ["celery", "worker", "--celery-hostname", f"{key}@cluster", "--skip-serve-logs"]
            return self.launch(key, [*args, "--concurrency", str(WORKER_CONCURRENCY)], env)
        return self.launch(key, COMMANDS["triggerer"], env)

    def start_all(self, timeout: float = 300.0) -> None:
        self.migrate()
        for key in (*CORE, *TRIGGERERS, *WORKERS):
            self.start(key)
        self.wait_healthy(timeout)
        for key in WORKERS:
            self.wait_worker_ready(key, timeout)

    def ensure_running(self, timeout: float = 180.0) -> None:
        """Restart whatever an earlier test killed, and wait until it serves again."""
        restarted = [key for key, component in self.components.items() if not component.alive()]
        jobs_before = set(self.triggerer_jobs()) if any(k.startswith("triggerer-") for k in restarted) else set()
        for key in restarted:
            self.start(key)
        if restarted:
            self.wait_healthy(timeout)
            for key in restarted:
                if key.startswith("worker-"):
                    self.wait_worker_ready(key, timeout)
                if key.startswith("triggerer-"):
                    wait_for(
                        lambda key=key: key in {h for j, h in self.triggerer_jobs().items() if j not in jobs_before},
                        timeout,
                        self.components[key].tail,
                    )

    def triggerer_jobs(self) -> dict[int, str]:
        """Triggerer job id -> the host (``CLUSTER_HOSTNAME``) that runs or ran it."""
        jobs = self.api_json("GET", "/jobs", params={"job_type": "TriggererJob", "limit": 1000})["jobs"]
        return {int(job["id"]): str(job["hostname"]) for job in jobs}

    def wait_worker_ready(self, key: str, timeout: float) -> None:
        """Until the worker's log says Celery is ready to consume (since its latest start)."""
        component, offset = self.components[key], self._log_offsets[key]

        def ready() -> bool:
            if not component.alive():
                raise RuntimeError(f"{key} exited\n{component.tail()}")
            with component.log.open("rb") as handle:
                handle.seek(offset)
                return f"{key}@cluster ready.".encode() in handle.read()

        wait_for(ready, timeout, component.tail)
