"""The README's first command: every example DAG through ``airflow dags test`` against the sandbox."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_every_example_dag_successfully(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRANSFER_SANDBOX"))}
    env.update(TRANSFERS_DEMO_HOME=str(tmp_path / "home"), TRANSFERS_DEMO_OUT=str(tmp_path / "out"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "All example DAGs succeeded." in out
    examples = [p.stem for p in (ROOT / "dags_examples").glob("*.py") if p.name != "__init__.py"]
    for dag_id in examples:
        assert f"  {dag_id}" in out, f"the demo does not run {dag_id}"
    assert "200 records: in_sync 190, drifted 10" in out
    assert (tmp_path / "out" / "reports" / "twilio_flex.jsonl").read_text().count("\n") == 200
    # Each DAG's command is printed whole (conf included), so a run can be repeated by hand.
    commands = [
        shlex.split(line[len("==> ") :]) for line in out.splitlines() if line.startswith("==> airflow dags test")
    ]
    confs = {cmd[3]: json.loads(cmd[5]) for cmd in commands if cmd[4] == "--conf"}
    assert set(confs) == set(examples), commands
    assert confs["reconcile_voipbin"] == {
        "records_path": str(tmp_path / "out" / "records" / "voipbin.jsonl"),
        "report_path": str(tmp_path / "out" / "reports" / "voipbin.jsonl"),
    }
