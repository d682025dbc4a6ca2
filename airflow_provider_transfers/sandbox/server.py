"""Running the sandbox: :class:`TransferSandbox` (background thread, free port) and :func:`serve_forever`."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any, TextIO

import uvicorn

from airflow_provider_transfers.sandbox.app import create_app
from airflow_provider_transfers.sandbox.config import SandboxConfig
from airflow_provider_transfers.sandbox.control import SandboxControl
from airflow_provider_transfers.sandbox.credentials import SandboxCredentials, connection_env
from airflow_provider_transfers.sandbox.handle import URL_ENV, SandboxHandle


def ensure_loopback(host: str) -> None:
    """The sandbox accepts well-known credentials: refuse to listen beyond this machine."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the sandbox only binds loopback hosts (127.0.0.1, ::1, localhost), not {host!r}")


def bind_socket(host: str, port: int) -> socket.socket:
    ensure_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1" if host == "localhost" else host.strip("[]"), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url_for(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _uvicorn_config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )


class TransferSandbox(SandboxHandle):
    """Both platform APIs on a free loopback port, in a background thread.

    >>> with TransferSandbox() as sandbox:
    ...     sandbox.control.create_twilio_interaction()
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: SandboxCredentials | None = None,
    ) -> None:
        ensure_loopback(host)
        super().__init__(config, credentials)
        self._host, self._port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> TransferSandbox:
        if self._server is not None:
            return self
        sock = bind_socket(self._host, self._port)
        self.url = _url_for(sock)
        server = uvicorn.Server(_uvicorn_config(create_app(self.config, self.credentials)))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="transfer-sandbox", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("the transfer sandbox did not start")
            time.sleep(0.01)
        self._server, self._thread, self._sock = server, thread, sock
        self._control = SandboxControl(self.url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._control is not None:
            self._control.close()
        self._sock.close()
        self._server = self._thread = self._control = None


def export_lines(url: str, credentials: SandboxCredentials) -> list[str]:
    import shlex

    env = {**connection_env(url, credentials), URL_ENV: url}
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def serve_forever(
    config: SandboxConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    credentials: SandboxCredentials | None = None,
    out: TextIO | None = None,
) -> None:
    """Serve in the foreground until interrupted, after printing the shell ``export`` lines to ``out``."""
    import sys

    config = config or SandboxConfig()
    config.check()
    credentials = credentials or SandboxCredentials()
    sock = bind_socket(host, port)
    stream = out or sys.stdout
    for line in export_lines(_url_for(sock), credentials):
        print(line, file=stream)
    stream.flush()
    server = uvicorn.Server(_uvicorn_config(create_app(config, credentials)))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
