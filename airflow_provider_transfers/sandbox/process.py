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
from types import TracebackType

import httpx

from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.control import SandboxControl
from airflow_provider_transfers.sandbox.credentials import SandboxCredentials, connection_env
from airflow_provider_transfers.sandbox.server import URL_ENV, ensure_loopback

_EXPORT = re.compile(r"export (\w+)=(.*)")


class SandboxProcess:
    """``python -m airflow_provider_transfers.sandbox`` as a child process (default credentials)."""

    def __init__(self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        ensure_loopback(host)
        self.config = config or SandboxConfig()
        self.config.check()
        self.credentials = SandboxCredentials()
        self._host, self._port = host, port
        self._proc: subprocess.Popen[str] | None = None
        self._control: SandboxControl | None = None
        self.url = ""

    @property
    def twilio_url(self) -> str:
        return self.url

    @property
    def voipbin_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def control(self) -> SandboxControl:
        if self._control is None:
            raise RuntimeError("the sandbox process is not running; call start() or use it as a context manager")
        return self._control

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

    def connection_env(self) -> dict[str, str]:
        return connection_env(self.url, self.credentials)

    def environ(self) -> dict[str, str]:
        return {**self.connection_env(), URL_ENV: self.url}

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
