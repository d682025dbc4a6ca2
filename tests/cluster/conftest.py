"""Cluster tier: Postgres, Redis, the sandbox and a CeleryExecutor Airflow with two workers and two
triggerers, started once for the session from ``.venv-cluster`` (the built wheel).

``scripts/bootstrap_cluster.sh`` builds and installs the wheel first (quick when nothing changed).
Every process started here is stopped by PID in its fixture's ``finally``. Logs, the sandbox's
request log and the reports land in ``test-artifacts/cluster/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.deployment import ClusterDeployment
from tests.cluster.postgres import MISSING as POSTGRES_MISSING
from tests.cluster.postgres import PostgresServer, postgres_bindir
from tests.cluster.sandbox import RecordingSandbox
from tests.redis_server import MISSING as REDIS_MISSING
from tests.redis_server import RedisServer, redis_server_path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "cluster"
VENV = ROOT / ".venv-cluster"
DAGS = Path(__file__).resolve().parent / "dags"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def cluster_python() -> str:
    """``.venv-cluster``'s interpreter, after ``scripts/bootstrap_cluster.sh`` installed the wheel into it."""
    if postgres_bindir() is None:
        pytest.skip(POSTGRES_MISSING)
    if redis_server_path() is None:
        pytest.skip(REDIS_MISSING)
    done = subprocess.run(["bash", str(ROOT / "scripts" / "bootstrap_cluster.sh")], capture_output=True, text=True)
    assert done.returncode == 0, f"scripts/bootstrap_cluster.sh failed:\n{done.stdout}\n{done.stderr}"
    return str(VENV / "bin" / "python")


@pytest.fixture(scope="session")
def postgres(cluster_python: str, artifacts: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(artifacts / "postgres.log")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis(cluster_python: str, artifacts: Path) -> Iterator[RedisServer]:
    """Celery's broker (db 0) and the provider's ``rate_limit_backend`` (db 1), persistent across restarts."""
    data = artifacts / "redis"
    data.mkdir()
    server = RedisServer(data_dir=data)
    try:
        yield server.start()
    finally:
        server.stop()


def _plain_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRANSFER_SANDBOX", "PYTHONPATH"))}


@pytest.fixture(scope="session")
def sandbox(cluster_python: str, artifacts: Path) -> Iterator[RecordingSandbox]:
    service = RecordingSandbox(cluster_python, artifacts, {**_plain_environment(), "PYTHONUNBUFFERED": "1"})
    try:
        yield service.start()
    finally:
        service.stop()


@pytest.fixture(scope="session")
def rate_limit_backend(redis: RedisServer) -> str:
    return f"redis://127.0.0.1:{redis.port}/1"


@pytest.fixture(scope="session")
def shared_volume(artifacts: Path) -> Path:
    """Where records and reports live: the one directory every worker sees (a shared volume)."""
    folder = artifacts / "shared"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def cluster(
    cluster_python: str,
    postgres: PostgresServer,
    redis: RedisServer,
    sandbox: RecordingSandbox,
    rate_limit_backend: str,
    artifacts: Path,
) -> Iterator[ClusterDeployment]:
    home = artifacts / "airflow-home"
    dags = home / "dags"
    dags.mkdir(parents=True)
    for dag_file in DAGS.glob("*.py"):
        shutil.copy2(dag_file, dags / dag_file.name)
    extra = {"AIRFLOW_CONN_TWILIO_FLEX_DEFAULT": sandbox.twilio_connection(rate_limit_backend=rate_limit_backend)}
    deployment = ClusterDeployment(
        home, dags, extra, python=cluster_python, database_url=postgres.url, broker_url=redis.url
    )
    try:
        deployment.start_all()
        yield deployment
    finally:
        deployment.stop_all()


@pytest.fixture
def running_cluster(cluster: ClusterDeployment) -> ClusterDeployment:
    """The cluster with every component up: whatever an earlier test killed is started again."""
    cluster.ensure_running()
    return cluster


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures the cluster tests measured (also in ``test-artifacts/cluster/figures.txt``)."""
    from tests.cluster.observe import FIGURES

    if not FIGURES:
        return
    terminalreporter.section("cluster tier figures")
    for line in FIGURES:
        terminalreporter.write_line(line)
    (ARTIFACTS / "figures.txt").write_text("\n".join(FIGURES) + "\n")
