"""The sandbox CLI of the installed package, plus a log of every platform request.

``python recording_sandbox.py LOG [python -m airflow_provider_transfers.sandbox options]`` serves the
same app as the CLI and appends one JSON line per platform request to LOG: ``t`` (arrival, epoch
seconds), ``method``, ``path`` and ``status`` (``reset`` when the connection was dropped). The cluster
tier reads from it when each transfer was checked and what the account answered; the control API
(``/_sandbox/``) is not logged.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import uvicorn

from airflow_provider_transfers.sandbox.app import create_app
from airflow_provider_transfers.sandbox.cli import build_parser, config_from_args
from airflow_provider_transfers.sandbox.credentials import SandboxCredentials
from airflow_provider_transfers.sandbox.server import bind_socket, export_lines

Scope = dict[str, Any]


class RequestLog:
    """ASGI middleware writing one line per request, once its response has started (or failed)."""

    def __init__(self, app: Any, path: str) -> None:
        self.app = app
        self.file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (open while serving)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        arrived, status = time.time(), "reset"

        async def recording_send(message: Scope) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            line = {"t": arrived, "method": scope["method"], "path": scope["path"], "status": status}
            self.file.write(json.dumps(line) + "\n")


def main(argv: list[str]) -> None:
    log, options = argv[0], argv[1:]
    args = build_parser().parse_args(options)
    config = config_from_args(args)
    credentials = SandboxCredentials()
    sock = bind_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    for line in export_lines(f"http://{host}:{port}", credentials):
        print(line, flush=True)
    app = RequestLog(create_app(config, credentials), log)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
