"""The main job: every example DAG, run with ``airflow dags test`` against the embedded sandbox.

Sets up a SQLite Airflow home in ``.airflow/demo`` (git-ignored), starts the sandbox on a free loopback
port, points both connection types at it through ``AIRFLOW_CONN_*``, prepares what each example
needs (an interaction, a transferer call, records to reconcile), runs the DAGs and prints a summary.
Logs of each run land in ``demo-output/``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Overridable so the test suite can run the demo without touching a developer's own demo output.
HOME = Path(os.environ.get("TRANSFERS_DEMO_HOME", ROOT / ".airflow" / "demo"))
OUT = Path(os.environ.get("TRANSFERS_DEMO_OUT", ROOT / "demo-output"))


@dataclass
class Run:
    dag_id: str
    conf: dict[str, Any] = field(default_factory=dict)
    summarize: Callable[[Callable[[str], Any]], str] = lambda xcom: ""
    label: str = ""
    state: str = "not run"
    seconds: float = 0.0
    summary: str = ""


def _airflow_env(extra: dict[str, str]) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        AIRFLOW_HOME=str(HOME),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags_examples"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{HOME / 'airflow.db'}",
        TRANSFERS_DEMO_DIR=str(OUT),
    )
    env.update(extra)
    return env


def _airflow(args: list[str], env: dict[str, str], log: Path) -> int:
    with log.open("w") as handle:
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, stdout=handle, stderr=subprocess.STDOUT
        ).returncode


def _xcom_reader(dag_id: str) -> Callable[[str], Any]:
    """Read the latest run's return values straight from the demo's metadata database."""

    def read(task_id: str) -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=dag_id, task_id=task_id, key="return_value")
                .order_by(XComModel.timestamp.desc())
                .first()
            )
            return None if row is None else XComModel.deserialize_value(row)

    return read


def _safe(summarize: Callable[[Callable[[str], Any]], str], read: Callable[[str], Any]) -> str:
    try:
        return summarize(read)
    except Exception as exc:  # a summary line must never hide the run's own result
        return f"(no summary: {type(exc).__name__}: {exc})"


def _plan(sandbox: Any) -> list[Run]:
    from scripts.demo_plan import plan

    return plan(sandbox, OUT)


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(HOME, ignore_errors=True)
    shutil.rmtree(OUT, ignore_errors=True)
    HOME.mkdir(parents=True)
    OUT.mkdir(parents=True)
    os.environ.update(_airflow_env({}))

    from airflow_provider_transfers.sandbox.config import SandboxConfig
    from airflow_provider_transfers.sandbox.server import TransferSandbox

    print(f"==> Airflow home {HOME} (SQLite): migrating", flush=True)
    if _airflow(["db", "migrate"], _airflow_env({}), OUT / "db-migrate.log") != 0:
        print(f"airflow db migrate failed: see {OUT / 'db-migrate.log'}")
        return 1

    config = SandboxConfig(transfer_delay_min_s=1.0, transfer_delay_max_s=2.0, success_rate=1.0, seed=7)
    with TransferSandbox(config) as sandbox:
        print(f"==> sandbox on {sandbox.url} (Twilio Flex at /v1, VoIPbin at /v1.0)", flush=True)
        env = _airflow_env(sandbox.environ())
        runs = _plan(sandbox)
        for run in runs:
            # The whole command, conf included: copy it to rerun one DAG by hand (with the demo's env).
            print(f"==> airflow dags test {run.dag_id} --conf {shlex.quote(json.dumps(run.conf))}", flush=True)
            t0 = time.monotonic()
            run.label = run.label or run.dag_id
            args = ["dags", "test", run.dag_id, "--conf", json.dumps(run.conf)]
            log = OUT / f"{run.label.replace(' ', '_').replace('(', '').replace(')', '')}.log"
            code = _airflow(args, env, log)
            run.seconds = time.monotonic() - t0
            run.state = "success" if code == 0 else "FAILED"
            run.summary = _safe(run.summarize, _xcom_reader(run.dag_id))
        stats = sandbox.control.stats()

    width = max(len(r.label) for r in runs)
    print("\nSummary")
    print(f"  {'DAG'.ljust(width)}  state    time   result")
    for run in runs:
        print(f"  {run.label.ljust(width)}  {run.state:<7}  {run.seconds:4.0f}s  {run.summary}")
    total = sum(platform.get("total", 0) for platform in stats.get("platforms", {}).values())
    print(f"\n  sandbox answered {total} requests; logs in {OUT}/")
    print(f"  total time {time.monotonic() - started:.0f}s")
    failed = [r.label for r in runs if r.state != "success"]
    if failed:
        print(f"\nFAILED: {', '.join(failed)} (see {OUT}/<dag_id>.log)")
        return 1
    print("\nAll example DAGs succeeded.")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
