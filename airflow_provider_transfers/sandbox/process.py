""":class:`SandboxProcess`: the sandbox in a child process, for load tests and benchmarks.

:class:`~.server.TransferSandbox` shares the interpreter (and its GIL) with the test; under heavy load
the client and the server then slow each other down. This runs the CLI instead, with the same surface.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import httpx

from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.control import SandboxControl
from airflow_provider_transfers.sandbox.handle import URL_ENV, SandboxHandle
from airflow_provider_transfers.sandbox.server import ensure_loopback

_EXPORT = re.compile(r"export (\w+)=(.*)")


class SandboxProcess(SandboxHandle):
    """``python -m airflow_provider_transfers.sandbox`` as a child process (default credentials)."""

    def __init__(self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        ensure_loopback(host)
        super().__init__(config, None)
        self._host, self._port = host, port
        self._proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> SandboxProcess:
        if self._proc is not None:
            return self
        args = [sys.executable, "-m", "airflow_provider_transfers.sandbox", "--host", self._host]
        args += ["--port", str(self._port), "--config-json", json.dumps(self.config.to_dict())]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self._proc = proc
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            while line and not line.startswith(f"export {URL_ENV}="):
                line = proc.stdout.readline()
            match = _EXPORT.fullmatch(line.strip())
            if match is None:
                raise RuntimeError("the sandbox process did not start")
            self.url = match.group(2).strip("'")
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        self._control = SandboxControl(self.url)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{self.url}/_sandbox/health", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or (self._proc is not None and self._proc.poll() is not None):
                    raise RuntimeError("the sandbox process did not become healthy") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
