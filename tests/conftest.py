"""Test-suite set-up: a throw-away Airflow home on SQLite, and a ``run_dag`` fixture for ``dag.test()``.

Airflow reads its configuration at import, so the environment is set here, before any test module
imports Airflow. ``dag.test()`` only runs DAGs whose file sits in the configured dags folder, so the
session copies ``dags_examples/*.py`` and ``tests/dags/*.py`` into that folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="transfers-airflow-"))
_DAGS = _HOME / "dags"
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ.pop("AIRFLOW_CONN_TWILIO_FLEX_DEFAULT", None)
os.environ.pop("AIRFLOW_CONN_VOIPBIN_DEFAULT", None)


def _copy_dag_files() -> None:
    _DAGS.mkdir(parents=True, exist_ok=True)
    for folder in (ROOT / "dags_examples", ROOT / "tests" / "dags"):
        for src in folder.glob("*.py"):
            if src.name != "__init__.py":
                shutil.copy2(src, _DAGS / src.name)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata database and a dags folder holding the example and test DAGs."""
    _copy_dag_files()
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return _DAGS


class DagRunResult:
    """What a test wants to know after ``dag.test()``: task states and XCom return values."""

    def __init__(self, dag_run: Any) -> None:
        self.dag_run = dag_run
        self.state = str(dag_run.state)

    def task_state(self, task_id: str) -> str | None:
        ti = self.dag_run.get_task_instance(task_id)
        return None if ti is None or ti.state is None else str(ti.state)

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=self.dag_run.dag_id, run_id=self.dag_run.run_id, task_id=task_id, key=key)
                .one_or_none()
            )
            return None if row is None else XComModel.deserialize_value(row)


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[..., DagRunResult]:
    """``run_dag(dag_id, conf=None)`` parses the dags folder and runs the DAG with ``dag.test()``."""

    def _run(dag_id: str, conf: dict[str, Any] | None = None) -> DagRunResult:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(airflow_db))
        assert not bag.import_errors, bag.import_errors
        dag = bag.get_dag(dag_id)
        assert dag is not None, f"DAG {dag_id!r} not found in {airflow_db}"
        return DagRunResult(dag.test(run_conf=conf))

    return _run


@pytest.fixture
def connection_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, str]], None]]:
    """Set ``AIRFLOW_CONN_*`` variables for one test (e.g. ``sandbox.connection_env()``)."""

    def _set(env: dict[str, str]) -> None:
        for key, value in env.items():
            monkeypatch.setenv(key, value)

    yield _set


@pytest.fixture
def make_twilio_hook() -> Callable[..., Any]:
    """A hook with a given connection and fast retries (no real sleeping)."""

    from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook
    from tests.factories import twilio_connection

    def _make(conn: Any = None, **policy: Any) -> TwilioFlexHook:
        merged = {"backoff_initial": 0.0, "backoff_max": 0.01, "rate_limit": 0, **policy}
        hook = TwilioFlexHook(connection=conn or twilio_connection(), policy=merged)
        return hook

    return _make


@pytest.fixture(scope="session", autouse=True)
def transfer_platforms_discovered() -> None:
    """Airflow's providers manager finds the platforms' hooks once per process, as a running worker or
    triggerer already has: tests that time a trigger's first checks do not pay for that discovery."""
    from airflow_provider_transfers.hooks.base import hook_class_for

    hook_class_for("twilio_flex")
    hook_class_for("voipbin")
