"""A reconciliation in its own OS process, as a worker runs it: ``python -m tests.unit.reconcile_child SPEC``.

``SPEC`` is the path of a JSON file: ``env`` (e.g. the sandbox's ``AIRFLOW_CONN_*``), ``operator`` (the
``TransferReconciliationOperator`` arguments), ``ti`` (the task instance the context names), ``result``
(where the outcome goes: ``{"summary": ...}`` or ``{"error": type, "message": ...}``), and optionally
``ready`` (created once the imports are done), ``wait_for`` (a path to appear before ``execute`` starts)
and ``check_log`` (every check whose answer arrived is appended there, one transfer id a line, before its
row is written: what a kill can lose).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def _log_checks(path: str) -> None:
    from airflow_provider_transfers.hooks.twilio_flex import TwilioFlexHook

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    original = TwilioFlexHook.acheck_ref

    async def logged(self: TwilioFlexHook, ref: Any) -> Any:
        check = await original(self, ref)
        os.write(fd, f"{ref.sid}\n".encode())
        return check

    TwilioFlexHook.acheck_ref = logged  # type: ignore[method-assign]


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    os.environ.update(spec.get("env", {}))
    from airflow_provider_transfers.operators.reconcile import TransferReconciliationOperator

    if spec.get("check_log"):
        _log_checks(spec["check_log"])
    operator = TransferReconciliationOperator(task_id=spec["ti"]["task_id"], **spec["operator"])
    context = {"ti": SimpleNamespace(map_index=-1, **spec["ti"]), "outlet_events": defaultdict(SimpleNamespace)}
    if spec.get("ready"):
        Path(spec["ready"]).touch()
    if spec.get("wait_for"):
        while not Path(spec["wait_for"]).exists():
            time.sleep(0.005)
    try:
        outcome: dict[str, Any] = {"summary": operator.execute(context)}  # type: ignore[arg-type]
    except Exception as exc:
        outcome = {"error": type(exc).__name__, "message": str(exc)}
    Path(spec["result"]).write_text(json.dumps(outcome))


if __name__ == "__main__":
    main(sys.argv[1])
