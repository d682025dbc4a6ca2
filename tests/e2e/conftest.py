"""End-to-end tier: one real Airflow deployment and one sandbox process for the whole session.

Every process started here is stopped by PID in the fixture's ``finally``. Component logs, screenshots
and the demo's records/reports land in ``test-artifacts/e2e/`` (git-ignored), so a CI failure can be
read after the run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.deployment import ROOT, Deployment

ARTIFACTS = ROOT / "test-artifacts" / "e2e"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    """The sandbox as its own process; transfers end 4-6 s after their creation, always ``completed``."""
    from airflow_provider_transfers.sandbox.config import SandboxConfig
    from airflow_provider_transfers.sandbox.process import SandboxProcess

    config = SandboxConfig(transfer_delay_min_s=4.0, transfer_delay_max_s=6.0, success_rate=1.0, seed=7)
    process = SandboxProcess(config)
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def deployment(sandbox: Any, artifacts: Path) -> Iterator[Deployment]:
    """Airflow 3 on loopback: api-server, scheduler, dag-processor, triggerer (LocalExecutor, SQLite)."""
    home = artifacts / "airflow-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    data = artifacts / "data"
    shutil.rmtree(data, ignore_errors=True)
    extra = {
        **sandbox.environ(),  # AIRFLOW_CONN_*_DEFAULT and TRANSFER_SANDBOX_URL
        # Where the reconcile DAGs' default paths point: a scheduled run (unpausing a @daily DAG
        # creates one) then reads the same records as the triggered one.
        "AIRFLOW_VAR_TRANSFER_RECONCILE_DIR": str(data),
    }
    airflow = Deployment(home, extra)
    try:
        airflow.start_all(timeout=240)
        yield airflow
    finally:
        airflow.stop_all()
