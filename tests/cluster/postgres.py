"""A throw-away PostgreSQL cluster from Debian's ``postgresql`` package: ``initdb`` in a temp dir, the
server on a free loopback port, stopped by the postmaster's PID.

Not the system service. ``initdb`` and ``postgres`` refuse to run as root, so as root (CI) both run
as the ``postgres`` user the package creates (``runuser -u postgres --``), in a directory it owns.
Durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the data is thrown away.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from tests.harness.processes import free_port, tail

MISSING = "PostgreSQL not found: install the Debian package 'postgresql' (scripts/ensure_postgres.sh does it as root)"
USER = "airflow"
DATABASE = "airflow"


def postgres_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb``, else the ``PATH``'s."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    """``PostgresServer(log).start()``; ``url`` is the SQLAlchemy URL of database ``airflow``.

    The cluster lives in a fresh directory under the system temp dir (reachable by the ``postgres``
    user, unlike a root-owned test folder), removed by ``stop()`` after its log is copied to ``log``.
    """

    def __init__(self, log: Path) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise FileNotFoundError(MISSING)
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="transfers-postgres-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.saved_log = log
        self.port = free_port()
        self.url = f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"
        self.pid: int | None = None
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def start(self, timeout: float = 60.0) -> PostgresServer:
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder} "
            "-c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", str(int(timeout)), "start")  # fmt: skip
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE)
        return self

    def stop(self, grace: float = 30.0) -> None:
        """Fast shutdown (SIGINT to the postmaster), then SIGKILL if it is still there."""
        pid, self.pid = self.pid, None
        if pid is not None:
            self._shut_down(pid, grace)
        if self.log.exists():
            self.saved_log.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.log, self.saved_log)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _shut_down(self, pid: int, grace: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + grace
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _running(pid):
            with contextlib.suppress(psutil.Error):
                postmaster = psutil.Process(pid)
                for process in [*postmaster.children(recursive=True), postmaster]:
                    process.kill()

    def tail(self) -> str:
        return tail(self.log if self.log.exists() else self.saved_log)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
