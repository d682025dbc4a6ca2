"""A real Airflow deployment on loopback: each component ``python -m airflow <component>`` as a process.

Each component has its own log file in ``<home>/logs/`` and an environment of its own (never the
in-process test settings of ``tests/conftest.py``), and is stopped by PID (see ``processes``).
Subclasses choose the executor and the metadata database; this holds what every deployment shares:
the API server's settings, the heartbeats tuned for tests, ``airflow db migrate``, the health check
and the REST API client.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.harness.processes import Component, free_port, tail, wait_for

COMMANDS = {
    "api-server": ["api-server", "--host", "127.0.0.1", "--workers", "1"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
"""``airflow`` arguments of each core component (the API server's port is added at start)."""


class AirflowDeployment:
    """Airflow with the API on ``127.0.0.1:<free port>``, run by ``python`` (a virtualenv's interpreter)."""

    health_parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        extra_env: dict[str, str],
        *,
        python: str,
        cwd: Path | None = None,
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.python = python
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = home / "logs"
        self.env = self._environment(extra_env)
        self.components: dict[str, Component] = {}
        self._token: str | None = None

    def settings(self) -> dict[str, str]:
        """The executor, database and tuning of this kind of deployment (``AIRFLOW__...`` variables)."""
        raise NotImplementedError

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRANSFER_SANDBOX"))}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
            AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
            AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(self.logs / "tasks"),
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
            # Parse the DAGs right away and pick new runs up quickly.
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="30",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC="2",
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.settings())
        env.update(extra)
        return env

    # ------------------------------------------------------------------ lifecycle

    def migrate(self) -> None:
        log = self.logs / "db-migrate.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as handle:
            done = subprocess.run(
                [self.python, "-m", "airflow", "db", "migrate"],
                env=self.env,
                cwd=self.cwd,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({done.returncode})\n{tail(log)}")

    def launch(self, key: str, args: list[str], env: dict[str, str] | None = None) -> Component:
        """Start ``airflow <args>`` as component ``key`` (logged to ``<home>/logs/<key>.log``)."""
        if args[0] == "api-server":
            args = [*args, "--port", str(self.port)]
        command = [self.python, "-m", "airflow", *args]
        component = Component(key, command, {**self.env, **(env or {})}, self.logs / f"{key}.log", self.cwd)
        self.components[key] = component.start()
        return component

    def current(self) -> list[Component]:
        """The components that must be running."""
        return list(self.components.values())

    def stop_all(self) -> None:
        for component in reversed(list(self.components.values())):
            component.stop()

    def diagnostics(self, lines: int = 30) -> str:
        return "\n".join(c.tail(lines) for c in self.components.values())

    def wait_healthy(self, timeout: float) -> None:
        """Until ``/api/v2/monitor/health`` reports every part of ``health_parts`` healthy."""
        last: Any = None

        def healthy() -> bool:
            nonlocal last
            for component in self.current():
                if not component.alive():
                    code = component.proc.returncode if component.proc else None
                    raise RuntimeError(f"airflow {component.name} exited ({code})\n{component.tail()}")
            try:
                response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
            except httpx.HTTPError as exc:
                last = exc
                return False
            last = response.text
            if response.status_code != 200:
                return False
            body = response.json()
            return all(body.get(p, {}).get("status") == "healthy" for p in self.health_parts)

        wait_for(healthy, timeout, lambda: f"Airflow is not healthy (last answer: {last})\n{self.diagnostics()}")

    # ------------------------------------------------------------------ REST API

    def token(self) -> str:
        if self._token is None:
            response = httpx.get(f"{self.url}/auth/token", timeout=30)
            assert response.status_code in (200, 201), response.text
            self._token = str(response.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.url}/api/v2{path}", headers=headers, timeout=60, **kwargs)

    def api_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api(method, path, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} /api/v2{path} -> {response.status_code}: {response.text}")
        return response.json()
