"""The sandbox as the cluster's own process (run by ``.venv-cluster``), its platform rate limits on at
the real figures, with a request log (``site/recording_sandbox.py``) the tests read as ground truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_transfers.sandbox.control import SandboxControl
from airflow_provider_transfers.sandbox.credentials import SandboxCredentials, twilio_connection
from tests.harness.processes import Component, free_port, wait_for

SITE = Path(__file__).resolve().parent / "site"
LIMITS = "twilio=20,voipbin=16.7"
"""Twilio Flex: 20 requests/s per endpoint per account (burst 20); VoIPbin: 16.7/s per customer (burst 33)."""
LATENCY_MS = 50


@dataclass(frozen=True)
class Request:
    t: float
    method: str
    path: str
    status: str


class RecordingSandbox:
    def __init__(self, python: str, folder: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.request_log = folder / "sandbox-requests.jsonl"
        self.credentials = SandboxCredentials()
        command = [python, str(SITE / "recording_sandbox.py"), str(self.request_log), "--port", str(self.port),
                   "--rate-limit", LIMITS, "--latency-ms", str(LATENCY_MS)]  # fmt: skip
        self.component = Component("sandbox", command, env, folder / "sandbox.log", cwd=folder)
        self.control = SandboxControl(self.url)

    def start(self, timeout: float = 60.0) -> RecordingSandbox:
        self.request_log.unlink(missing_ok=True)
        self.component.start()

        def healthy() -> bool:
            if not self.component.alive():
                raise RuntimeError(f"the sandbox exited\n{self.component.tail()}")
            try:
                return httpx.get(f"{self.url}/_sandbox/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout, self.component.tail, interval=0.2)
        return self

    def stop(self) -> None:
        self.control.close()
        self.component.stop(grace=10)

    def twilio_connection(self, **extra: Any) -> str:
        """``AIRFLOW_CONN_TWILIO_FLEX_DEFAULT``'s value, with ``extra`` added to the connection's extra."""
        fields = twilio_connection(self.url, self.credentials)
        fields["extra"] = {**fields["extra"], **extra}
        return json.dumps(fields)

    def requests(self, since: float = 0.0) -> list[Request]:
        """Platform requests that arrived at or after ``since`` (epoch seconds), in arrival order."""
        found = []
        for line in self.request_log.read_text().splitlines():
            if line.endswith("}"):
                entry = json.loads(line)
                if entry["t"] >= since:
                    found.append(Request(entry["t"], entry["method"], entry["path"], entry["status"]))
        return sorted(found, key=lambda r: r.t)
