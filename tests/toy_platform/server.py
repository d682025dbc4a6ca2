"""The toy platform's API on a loopback port, in a thread: an in-memory table of toy transfers."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ToyServer:
    """``add(id, state, answer_after=None)`` seeds a transfer; ``requests`` counts what was asked."""

    def __init__(self) -> None:
        self.toys: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ToyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(
        self, toy_id: str, state: str = "ringing", *, answer_after: float | None = None, created: str = ""
    ) -> dict[str, Any]:
        toy = {"id": toy_id, "state": state, "created": created or "2026-03-01T10:00:00Z"}
        with self.lock:
            self.toys[toy_id] = {**toy, "answer_at": None if answer_after is None else time.monotonic() + answer_after}
        return toy

    def _view(self, toy_id: str) -> dict[str, Any] | None:
        with self.lock:
            toy = self.toys.get(toy_id)
            if toy is None:
                return None
            if toy["answer_at"] is not None and toy["state"] == "ringing" and time.monotonic() >= toy["answer_at"]:
                toy["state"] = "answered"
            return {k: toy[k] for k in ("id", "state", "created")}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.requests.append(f"GET {self.path}")
                found = re.fullmatch(r"/toys/([^/]+)", self.path)
                toy = server._view(found.group(1)) if found else None
                self._answer(200, toy) if toy else self._answer(404, {"message": "no such toy"})

            def do_POST(self) -> None:
                server.requests.append(f"POST {self.path}")
                found = re.fullmatch(r"/toys/([^/]+)/drop", self.path)
                if not found or server._view(found.group(1)) is None:
                    self._answer(404, {"message": "no such toy"})
                    return
                with server.lock:
                    server.toys[found.group(1)]["state"] = "dropped"
                self._answer(200, server._view(found.group(1)))

        return Handler
