"""A real Airflow deployment on loopback: api-server, scheduler, dag-processor and triggerer as processes.

Each component runs ``python -m airflow <component>`` with its own log file in ``<home>/logs/``, an
environment of its own (never the in-process test settings of ``tests/conftest.py``) and is stopped by
PID: SIGTERM to its process group, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags_examples"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(errors="replace").splitlines()
    return f"--- last {min(lines, len(text))} lines of {path} ---\n" + "\n".join(text[-lines:])


class Component:
    """One Airflow process and its log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.args, self.env, self.log = name, args, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Component:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", *self.args],
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: its children are stopped with it
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, no chance to clean up: what a crashed host or an OOM kill does."""
        if self.proc is not None:
            _signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, grace: float = 20.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        # Children of the component (task supervisors, uvicorn workers) share its process group.
        _signal_group(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # the group id is the leader's pid (start_new_session=True)


class Deployment:
    """Airflow on SQLite with the LocalExecutor, the API on ``127.0.0.1:<free port>``."""

    def __init__(self, home: Path, extra_env: dict[str, str]) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = home / "logs"
        self.env = self._environment(extra_env)
        self.components: dict[str, Component] = {}
        self._triggerers = 0
        self._token: str | None = None

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRANSFER_SANDBOX"))}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="2",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.home / 'airflow.db'}",
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
            # Parse the example DAGs right away and pick new runs up quickly.
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="30",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC="2",
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2",
            # A killed triggerer's triggers move to a new triggerer once its heartbeat is this old.
            AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="10",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    # ------------------------------------------------------------------ lifecycle

    def migrate(self) -> None:
        log = self.logs / "db-migrate.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as handle:
            done = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({done.returncode})\n{tail(log)}")

    def start(self, name: str, extra_env: dict[str, str] | None = None) -> Component:
        args = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
        }[name]
        key = name
        if name == "triggerer":
            self._triggerers += 1
            key = f"triggerer-{self._triggerers}"
        component = Component(key, args, {**self.env, **(extra_env or {})}, self.logs / f"{key}.log").start()
        self.components[key] = component
        return component

    def restart(self, name: str, extra_env: dict[str, str] | None = None) -> Component:
        """Stop a component (its running task processes too) and start it again with ``extra_env``."""
        self.components[name].stop()
        component = self.start(name, extra_env)
        self.wait_healthy(180)
        return component

    def current(self) -> list[Component]:
        """The running set: every component but triggerers replaced by a newer one."""
        return [c for n, c in self.components.items() if not n.startswith("triggerer-") or c is self.triggerer]

    @property
    def triggerer(self) -> Component:
        return self.components[f"triggerer-{self._triggerers}"]

    def start_all(self, timeout: float = 180.0) -> None:
        self.migrate()
        for name in COMPONENTS:
            self.start(name)
        self.wait_healthy(timeout)

    def stop_all(self) -> None:
        for component in reversed(list(self.components.values())):
            component.stop()

    def diagnostics(self, lines: int = 30) -> str:
        return "\n".join(c.tail(lines) for c in self.components.values())

    def wait_healthy(self, timeout: float) -> None:
        """Until ``/api/v2/monitor/health`` answers with a healthy scheduler, triggerer and dag processor."""
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
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all(body.get(p, {}).get("status") == "healthy" for p in parts)

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


def openlineage_env(events: Path) -> dict[str, str]:
    """The OpenLineage provider's listener writing every event to ``events`` (one JSON object per line).

    Given to the scheduler, it reaches every task process the LocalExecutor starts.
    """
    return {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "transfers-e2e",
        # The listener emits from a fork that the task waits for at most this long (default 10 s).
        "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "120",
    }


def wait_for(condition: Callable[[], bool], timeout: float, describe: Callable[[], str], interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s: {describe()}")
        time.sleep(interval)
