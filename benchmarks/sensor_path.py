"""Trace one deferrable sensor wait: which of the provider's files and functions it passes through.

``TransferStatusSensor.execute`` (first check, then defer) -> the trigger rebuilt from its ``serialize()``
output, as the triggerer does -> ``run`` (polls until the transfer completes) -> ``execute_complete``,
against the sandbox on loopback, under ``sys.setprofile``. Prints the provider files and functions that ran
(the sandbox excluded; lambdas and comprehensions not counted), the polls made, the calls of ``validate*``
functions, how often some functions were entered (exact for plain functions; a coroutine is entered again at
every resumption), and the lines of ``airflow_provider_transfers/`` outside ``sandbox/``. Run:
``python -m benchmarks.sensor_path [twilio_flex|voipbin] [-v]``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import sys
import tempfile
from collections import Counter
from types import FrameType
from typing import Any

COUNTED = (
    "validate_sid",
    "validate_uuid",
    "transfer_ref",
    "parse_transfers",
    "check_transfer",
    "acheck_transfer",
    "check_ref",
    "acheck_ref",
)
SKIPPED = {"<lambda>", "<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>"}


def main(argv: list[str]) -> None:
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="sensor-path-"))
    from airflow.sdk.exceptions import TaskDeferred

    import airflow_provider_transfers
    from airflow_provider_transfers.sandbox.config import SandboxConfig
    from airflow_provider_transfers.sandbox.server import TransferSandbox

    package = os.path.dirname(airflow_provider_transfers.__file__)
    calls: Counter[tuple[str, str]] = Counter()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        name = frame.f_code.co_filename
        is_function = frame.f_code.co_flags & inspect.CO_OPTIMIZED  # not a module or class body (imports)
        if event == "call" and is_function and name.startswith(package) and f"{os.sep}sandbox{os.sep}" not in name:
            calls[(os.path.relpath(name, package), frame.f_code.co_name)] += 1

    platform = next((a for a in argv if not a.startswith("-")), "twilio_flex")
    with TransferSandbox(SandboxConfig()) as sandbox:
        os.environ.update(sandbox.environ())
        from airflow_provider_transfers.sensors.transfer import TransferStatusSensor

        conn_id = "twilio_flex_default" if platform == "twilio_flex" else "voipbin_default"
        [transfer] = sandbox.control.seed(platform, outcome="completed", delay_s=2.0)
        sensor = TransferStatusSensor(
            task_id="wait", conn_id=conn_id, transfer=transfer, deferrable=True, poke_interval=0.2, timeout=30
        )
        sys.setprofile(profile)
        try:
            sensor.execute({})
            raise SystemExit("the sensor did not defer")
        except TaskDeferred as deferred:
            sys.setprofile(None)
            method, kwargs = deferred.method_name, deferred.kwargs or {}
            classpath, trigger_kwargs = deferred.trigger.serialize()
            stored = json.loads(json.dumps(trigger_kwargs))  # what Airflow keeps in its database
        module, _, name = classpath.rpartition(".")
        sys.setprofile(profile)
        trigger = getattr(importlib.import_module(module), name)(**stored)
        sys.setprofile(None)

        async def run() -> Any:
            sys.setprofile(profile)
            try:
                return await anext(trigger.run())
            finally:
                sys.setprofile(None)

        event = asyncio.run(run())
        sys.setprofile(profile)
        result = getattr(sensor, method)({}, event=event.payload, **kwargs)
        sys.setprofile(None)
        assert result["status"] == "completed", result

    files = sorted({f for f, _ in calls})
    functions = sorted(k for k in calls if k[1] not in SKIPPED)
    polls = trigger.state.attempts  # the sensor's first check is counted in the state it hands over
    validations = sum(n for (_, f), n in calls.items() if f.startswith("validate"))
    print(f"{platform}: {len(files)} files, {len(functions)} functions, {validations} validate* calls, {polls} polls")
    print("calls:", {name: sum(n for (_, f), n in calls.items() if f == name) for name in COUNTED})
    print(f"lines of {os.path.basename(package)}/ outside sandbox/: {_lines(package)}")
    if "-v" in argv:
        for file in files:
            print(f"  {file}: {', '.join(f for ff, f in functions if ff == file)}")


def _lines(package: str) -> int:
    total = 0
    for root, dirs, names in os.walk(package):
        dirs[:] = [d for d in dirs if d not in ("sandbox", "__pycache__")]
        for name in names:
            if name.endswith(".py"):
                with open(os.path.join(root, name), encoding="utf-8") as fh:
                    total += sum(1 for _ in fh)
    return total


if __name__ == "__main__":
    main(sys.argv[1:])
