"""One writer per report, held from the first pass to the commit: ``<report>.lock`` with ``fcntl.flock``
(local paths) or a renewed ``<report>.lease`` (object storage), each naming its holder for the error a
second run gets. Mechanisms and limits: docs, "One writer per report".
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_transfers.exceptions import TransferProviderError
from airflow_provider_transfers.reconcile.checkpoint import checkpoint_base
from airflow_provider_transfers.reconcile.storage import Location

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
LEASE_SUFFIX = ".lease"
POLL_S = 0.5
"""How often a run waiting for a report (``lock_timeout``) tries again."""
IDENTITY_GRACE_S = 1.0
"""How long a refused run waits for the holder of a lock file to record who it is."""
LEASE_TTL_S = 60.0
"""How long a lease stays valid without renewal; the holder renews it every third of that."""
LEASE_SETTLE_S = 2.0
"""After writing a lease, how long a taker waits before reading it back to see whether it won."""
LEASE_SKEW_S = 10.0
"""Clock difference between hosts a lease tolerates: an expired lease is taken over this much later."""


_REQUIRED = {"host": str, "pid": int, "since": str, "token": str}
_FROM_TI = {"dag_id": str, "task_id": str, "run_id": str, "try_number": int, "map_index": int}


def _typed(value: Any, kind: type) -> Any:
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Holder:
    """Who writes a report: the Airflow task instance when known, and always the host and process."""

    host: str
    pid: int
    since: str
    token: str
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None
    map_index: int | None = None

    @classmethod
    def current(cls, ti: Any = None) -> Holder:
        """This process; ``ti`` (the context's task instance) adds the dag, task, run and try."""
        found = {name: _typed(getattr(ti, name, None), kind) for name, kind in _FROM_TI.items()}
        if (found["map_index"] or 0) < 0:  # -1: not a mapped task
            found["map_index"] = None
        since = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return cls(socket.gethostname(), os.getpid(), since, uuid.uuid4().hex, **found)

    @classmethod
    def from_dict(cls, data: Any) -> Holder | None:
        """A holder as ``to_dict`` wrote it; ``None`` for anything else (an unreadable lock or lease)."""
        if not isinstance(data, dict):
            return None
        values = {name: _typed(data.get(name), kind) for name, kind in (_REQUIRED | _FROM_TI).items()}
        return None if any(values[name] is None for name in _REQUIRED) else cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        parts = []
        if self.dag_id:
            parts.append(f"dag {self.dag_id!r}")
        if self.task_id:
            task = f"task {self.task_id!r}"
            parts.append(task if self.map_index is None else f"{task} (map index {self.map_index})")
        if self.run_id:
            parts.append(f"run {self.run_id!r}")
        if self.try_number is not None:
            parts.append(f"try {self.try_number}")
        parts.append(f"host {self.host!r}, PID {self.pid}, since {self.since}")
        return ", ".join(parts)


class ReportLockedError(TransferProviderError):
    """Another run holds the report; the message names it and what to do."""

    def __init__(self, report: Location, holder: Holder | None, lock: str, waited: float, how: str) -> None:
        self.holder = holder
        who = holder.describe() if holder else "a run that has not recorded its identity yet"
        waited_text = f" after waiting {waited:g}s (lock_timeout)" if waited else ""
        super().__init__(
            f"Report {report} is being written by another run{waited_text}: {who} (lock: {lock}). Only one run "
            f"may write a report at a time. {how} Wait for that run to finish (this task's retries try again), "
            "or set lock_timeout (e.g. lock_timeout='30m') to wait for it; a run writing to a different "
            "output_path does not conflict."
        )


class ReportLockLostError(TransferProviderError):
    """The run no longer holds its report's lease (another run took it over): nothing was committed."""


@contextlib.contextmanager
def hold_report(
    output: Location, holder: Holder, timeout: timedelta | None, checkpoint_dir: str | None = None
) -> Iterator[ReportLock]:
    """Hold ``output`` for one writer (waiting up to ``timeout``; ``None``: fail at once) until the block ends.
    Object storage: a lease, and the local checkpoint is flock-ed as well (two runs on one host never share it).
    """
    wait = timeout.total_seconds() if timeout is not None else 0.0
    base = checkpoint_base(output, checkpoint_dir)
    held = ReportLock([])
    try:
        held.locks.append(FileLock.acquire(output, base.with_name(base.name + LOCK_SUFFIX), holder, wait))
        if isinstance(output, ObjectStoragePath):
            held.locks.append(LeaseLock.acquire(output, holder, wait))
        yield held
    finally:
        for lock in reversed(held.locks):
            lock.release()


@dataclass
class ReportLock:
    """The locks held on a report: ``verify()`` raises ``ReportLockLostError`` if one is no longer ours."""

    locks: list[FileLock | LeaseLock]

    def verify(self) -> None:
        for lock in self.locks:
            lock.verify()


@dataclass
class FileLock:
    """``flock`` on a lock file that holds the holder's identity; removed on release."""

    path: Path
    fd: int | None

    @classmethod
    def acquire(cls, report: Location, path: Path, holder: Holder, wait: float) -> FileLock:
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait
        announced = False
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = _recorded_holder(fd)
                os.close(fd)
                if time.monotonic() >= deadline:
                    how = "The lock is held by a live process (the kernel frees it when its holder dies)."
                    raise ReportLockedError(report, other, str(path), wait, how) from None
                if not announced:
                    announced = True
                    who = other.describe() if other else "another run"
                    log.info("Report %s is being written by %s; waiting up to %gs for it", report, who, wait)
                time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
                continue
            if not _same_file(fd, path):  # released and removed while we waited: lock the new file
                os.close(fd)
                continue
            previous = _read_holder(fd)
            if previous is not None:
                log.warning(
                    "Report %s: the previous writer (%s) ended without releasing its lock (killed?); taking over",
                    report,
                    previous.describe(),
                )
            identity = json.dumps(holder.to_dict()).encode()
            os.pwrite(fd, identity, 0)  # then cut what is left of the previous one: never read empty
            os.ftruncate(fd, len(identity))
            return cls(path, fd)

    def verify(self) -> None:
        if self.fd is None or not _same_file(self.fd, self.path):
            raise ReportLockLostError(f"the lock file {self.path} was removed while this run held it")

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            if _same_file(self.fd, self.path):
                self.path.unlink()  # while still locked: a waiter that opened it sees it gone and retries
        os.close(self.fd)
        self.fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _recorded_holder(fd: int) -> Holder | None:
    """The identity in a lock file another process holds; it is written just after the ``flock``, so an empty
    file or one naming a dead process of this host is read again for up to ``IDENTITY_GRACE_S``."""
    deadline = time.monotonic() + IDENTITY_GRACE_S
    while True:
        holder = _read_holder(fd)
        if (holder is not None and not _gone(holder)) or time.monotonic() >= deadline:
            return holder
        time.sleep(0.02)


def _gone(holder: Holder) -> bool:
    """Whether the holder is a process of this host that no longer exists."""
    if holder.host != socket.gethostname():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    return False


def _read_holder(fd: int) -> Holder | None:
    try:
        return Holder.from_dict(json.loads(os.pread(fd, 1 << 16, 0)))
    except ValueError:  # empty, or cut mid-write
        return None


@dataclass
class _Lease:
    holder: Holder | None
    token: str
    expires_at: float

    def expiry_text(self) -> str:
        return datetime.fromtimestamp(self.expires_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class LeaseLock:
    """A lease object renewed by a background thread; taken over only once expired, then read back."""

    path: ObjectStoragePath
    holder: Holder
    valid_until: float = 0.0
    lost: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def acquire(cls, report: ObjectStoragePath, holder: Holder, wait: float) -> LeaseLock:
        lease = cls(report.parent / (report.name + LEASE_SUFFIX), holder)
        deadline = time.monotonic() + wait
        announced = False
        while True:
            current = lease._read()
            if current is None or current.token == holder.token or time.time() > current.expires_at + LEASE_SKEW_S:
                started = lease._write()
                time.sleep(LEASE_SETTLE_S)
                back = lease._read()
                if back is not None and back.token == holder.token:
                    lease.valid_until = started + LEASE_TTL_S
                    if current is not None and current.token != holder.token:
                        who = current.holder.describe() if current.holder else "an unknown run"
                        log.warning(
                            "Report %s: the lease of %s expired at %s without release (killed?); taking over",
                            report,
                            who,
                            current.expiry_text(),
                        )
                    lease._thread = threading.Thread(target=lease._renew, name=f"lease {lease.path}", daemon=True)
                    lease._thread.start()
                    return lease
                current = back
            if time.monotonic() >= deadline:
                expiry = f" Its lease expires at {current.expiry_text()} unless renewed" if current else ""
                how = f"{expiry.strip()}; a run that died is taken over after that." if expiry else ""
                raise ReportLockedError(report, current.holder if current else None, str(lease.path), wait, how)
            if not announced:
                announced = True
                log.info("Report %s is leased by another run; waiting up to %gs for it", report, wait)
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

    def _read(self) -> _Lease | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            log.warning("Lease %s is not readable; treating it as expired", self.path)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("expires_at"), int | float):
            return None
        return _Lease(Holder.from_dict(data.get("holder")), str(data.get("token", "")), float(data["expires_at"]))

    def _write(self) -> float:
        """Write the lease with a fresh expiry; return the monotonic time it was written."""
        started = time.monotonic()
        body = {"holder": self.holder.to_dict(), "token": self.holder.token, "expires_at": time.time() + LEASE_TTL_S}
        self.path.write_text(json.dumps(body), encoding="utf-8")
        return started

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_TTL_S / 3):
            try:
                current = self._read()
                if current is None or current.token != self.holder.token:
                    who = current.holder.describe() if current and current.holder else "nobody"
                    self.lost = f"the lease {self.path} is now held by {who}"
                    return
                self.valid_until = self._write() + LEASE_TTL_S
            except Exception as exc:  # a store that hiccups: try again next time; verify() judges the expiry
                log.warning("Could not renew lease %s: %s", self.path, exc)

    def verify(self) -> None:
        if self.lost is None and time.monotonic() >= self.valid_until - LEASE_SKEW_S:
            self.lost = f"the lease {self.path} was not renewed in time (expired)"
        if self.lost is None:
            current = self._read()
            if current is None or current.token != self.holder.token:
                self.lost = f"the lease {self.path} was taken over by another run"
        if self.lost is not None:
            raise ReportLockLostError(
                f"This run lost its hold on the report: {self.lost}. Nothing was committed; rerun after the "
                "other run ends."
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(Exception):
            current = self._read()
            if current is not None and current.token == self.holder.token:
                self.path.unlink()
