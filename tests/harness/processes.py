"""Long-running processes for the tiers that start real services: started in a session of their own,
logged to a file, stopped by PID.

A component's children share its process group, except where a program moves them out (Airflow's task
supervisor puts each task process in a group of its own), so stopping and killing also reach every
descendant found at that moment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(errors="replace").splitlines()
    return f"--- last {min(lines, len(text))} lines of {path} ---\n" + "\n".join(text[-lines:])


def wait_for(condition: Callable[[], bool], timeout: float, describe: Callable[[], str], interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s: {describe()}")
        time.sleep(interval)


class Component:
    """One long-running process (``command``) and its log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> None:
        self.name, self.command, self.env, self.log, self.cwd = name, command, env, log, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Component:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: its children are stopped with it
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def descendants(self) -> list[psutil.Process]:
        if not self.alive():
            return []
        with contextlib.suppress(psutil.Error):
            return list(psutil.Process(self.pid).children(recursive=True))
        return []

    def kill(self) -> None:
        """SIGKILL to the process and every descendant, no chance to clean up: a crashed host or an OOM kill."""
        if self.proc is not None:
            tree = self.descendants()
            _signal_group(self.proc.pid, signal.SIGKILL)
            _kill_all(tree)
            self.proc.wait(timeout=30)

    def stop(self, grace: float = 20.0) -> None:
        if self.proc is None:
            return
        tree = self.descendants()
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        # Children of the component (task supervisors, uvicorn workers) share its process group.
        _signal_group(self.proc.pid, signal.SIGKILL)
        _kill_all(tree)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # the group id is the leader's pid (start_new_session=True)


def _kill_all(processes: list[psutil.Process]) -> None:
    """SIGKILL each process still running (psutil checks it is the same process, not a reused PID)."""
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
