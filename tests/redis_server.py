"""A throw-away ``redis-server`` (the Debian package) on a free loopback port, for tests and benchmarks.

Started with ``--save '' --appendonly no`` (nothing written to disk) and stopped by its PID; with
``data_dir`` it keeps an append-only file there instead, so a restart on the same port finds its data
again (what a production Redis, e.g. a Celery broker, is configured to do). When the
binary is missing, :func:`redis_server_path` says so and callers skip with a message naming the
package (``scripts/ensure_redis.sh`` installs it when running as root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from types import TracebackType

MISSING = "redis-server not found: install the Debian package 'redis-server' (scripts/ensure_redis.sh does it as root)"


def redis_server_path() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)),
        None,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``with RedisServer() as redis: redis.url`` -> ``redis://127.0.0.1:PORT/0``."""

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        binary = redis_server_path()
        if binary is None:
            raise FileNotFoundError(MISSING)
        self.binary = binary
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        if self.data_dir is None:
            args += ["--appendonly", "no"]
        else:
            args += ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", os.fspath(self.data_dir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s); ``start()`` again serves on the same port."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
