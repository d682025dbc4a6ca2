"""The end-to-end tier's Airflow: api-server, scheduler, dag-processor and triggerer on SQLite with the
LocalExecutor, run by this interpreter (the editable checkout), dags folder ``dags_examples/``.

Process handling and the REST API client are shared with the cluster tier (``tests/harness``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.harness.airflow import COMMANDS, AirflowDeployment
from tests.harness.processes import Component

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags_examples"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


class Deployment(AirflowDeployment):
    """Airflow on SQLite with the LocalExecutor; a replaced triggerer counts as stopped."""

    def __init__(self, home: Path, extra_env: dict[str, str]) -> None:
        self._triggerers = 0
        super().__init__(home, DAGS_FOLDER, extra_env, python=sys.executable)

    def settings(self) -> dict[str, str]:
        return {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            # A killed triggerer's triggers move to a new triggerer once its heartbeat is this old.
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        }

    def start(self, name: str, extra_env: dict[str, str] | None = None) -> Component:
        key = name
        if name == "triggerer":
            self._triggerers += 1
            key = f"triggerer-{self._triggerers}"
        return self.launch(key, COMMANDS[name], extra_env)

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
