"""The resumable checkpoint of a report: rows appended to ``<report>.partial`` as they finish, each with a chained
digest in ``.partial.digests``, the fingerprint in ``.partial.meta`` (docs: "Atomic and resumable")."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from airflow_provider_transfers.reconcile.report import ReportFormatError, Tally, header_text, iter_rows
from airflow_provider_transfers.reconcile.rowset import RowSet
from airflow_provider_transfers.reconcile.storage import Location, atomic_write_text

log = logging.getLogger(__name__)

META_VERSION = 2
PARTIAL_SUFFIX = ".partial"
META_SUFFIX = ".partial.meta"
DIGESTS_SUFFIX = ".partial.digests"
CORRUPT_INFIX = ".corrupt-"


class CorruptCheckpoint(Exception):
    """The checkpoint cannot be trusted; the message says why."""


@dataclass
class Resumed:
    """What an earlier run of the same input left: the counts of its rows and which rows they are."""

    tally: Tally
    done: RowSet


def chain_digest(previous: str, row_line: str) -> str:
    """The digest of one checkpoint row: SHA-256 over the previous row's digest and this row's text."""
    return hashlib.sha256(f"{previous}\n{row_line}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


class CheckpointWriter:
    """Appends rows (whole lines) to the checkpoint and their digests to its digest file."""

    def __init__(self, partial: Path, digests: Path, last: str) -> None:
        self._rows = open(partial, "a", encoding="utf-8", newline="")  # noqa: SIM115 (closed by __exit__)
        self._digests = open(digests, "a", encoding="ascii", newline="")  # noqa: SIM115
        self.last = last

    def write(self, text: str) -> None:
        self._rows.write(text)
        for line in text.splitlines(keepends=True):
            self.last = chain_digest(self.last, line)
            self._digests.write(self.last + "\n")

    def flush(self) -> None:
        self._rows.flush()  # rows first: a crash leaves at most rows without digests (dropped on resume)
        self._digests.flush()

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._rows.close()
        finally:
            self._digests.close()


class Checkpoint:
    """The checkpoint of one report: ``resume()`` or ``start()``, then ``append()`` rows; ``commit_report`` ends it."""

    def __init__(self, output: Location, fmt: str, fingerprint: str, checkpoint_dir: str | None = None) -> None:
        self.fmt = fmt
        self.fingerprint = fingerprint
        base = checkpoint_base(output, checkpoint_dir)
        self.partial = base.with_name(base.name + PARTIAL_SUFFIX)
        self.meta = base.with_name(base.name + META_SUFFIX)
        self.digests = base.with_name(base.name + DIGESTS_SUFFIX)
        self._last = self._origin()

    def _origin(self) -> str:
        return hashlib.sha256(f"checkpoint v{META_VERSION}: {self.fingerprint}".encode()).hexdigest()[:32]

    def resume(self, total: int) -> Resumed | None:
        """The rows (of ``1..total``) an earlier run of the same input already wrote, or ``None`` (start afresh);
        a checkpoint that cannot be trusted is set aside (docs: "Atomic and resumable")."""
        if not self._meta_matches() or not self.partial.exists():
            self.discard()
            return None
        try:
            return self._verified(total)
        except (CorruptCheckpoint, ReportFormatError, UnicodeDecodeError, OSError) as exc:
            reason = str(exc) if not isinstance(exc, UnicodeDecodeError) else f"not valid UTF-8 ({exc.reason})"
            self._set_aside(reason)
            return None

    def _verified(self, total: int) -> Resumed:
        """Check every row's digest, drop rows written after the last digest, and count the rest."""
        _cut_to_last_line(self.partial)
        if not self.digests.exists():
            raise CorruptCheckpoint("its digest file is missing")
        _cut_to_last_line(self.digests)
        header = header_text(self.fmt)
        last = self._origin()
        count = 0
        with open(self.partial, "rb") as rows, open(self.digests, "rb") as digests:
            if header and rows.readline() != header.encode():
                raise CorruptCheckpoint("its header is not the report header")
            keep = rows.tell()
            for raw in rows:
                expected = digests.readline().strip()
                if not expected:  # written by a run that died before its digest: check that row again
                    break
                count += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise CorruptCheckpoint(f"row {count} is not valid UTF-8 ({exc.reason})") from None
                last = chain_digest(last, line)
                if expected.decode("ascii", "replace") != last:
                    raise CorruptCheckpoint(f"row {count} does not match its digest (edited?)")
                keep += len(raw)
        _truncate(self.partial, keep)
        _truncate(self.digests, count * 33)  # digests (32 hex digits and a newline) of rows never written
        self._last = last
        tally = Tally()
        done = RowSet(total)
        with open(self.partial, encoding="utf-8", newline="") as fh:
            for row in iter_rows(fh, self.fmt, source=str(self.partial)):
                number = row["row"]
                if not done.in_range(number):
                    raise CorruptCheckpoint(f"row number {number} is outside 1..{total}")
                if not done.add(number):
                    raise CorruptCheckpoint(f"row {number} appears twice")
                tally.add(str(row["class"]), str(row["action"] or ""))
        return Resumed(tally, done)

    def _set_aside(self, reason: str) -> None:
        aside = CORRUPT_INFIX + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        for path in (self.partial, self.digests):  # the digests beside it, when there are any
            with contextlib.suppress(FileNotFoundError):
                os.replace(path, f"{path}{aside}")
        self.meta.unlink(missing_ok=True)
        log.warning(
            "Checkpoint %s cannot be used: %s. Set aside as %s%s; starting over",
            self.partial,
            reason,
            self.partial,
            aside,
        )

    def _meta_matches(self) -> bool:
        try:
            return bool(json.loads(self.meta.read_text(encoding="utf-8")) == self._meta())
        except (OSError, ValueError):
            return False

    def _meta(self) -> dict[str, object]:
        return {"version": META_VERSION, "fingerprint": self.fingerprint}

    def start(self) -> None:
        """A fresh checkpoint: the meta first, then an empty (or header-only) partial file."""
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.meta, json.dumps(self._meta()))
        with open(self.partial, "w", encoding="utf-8", newline="") as fh:
            fh.write(header_text(self.fmt))
        self.digests.write_bytes(b"")
        self._last = self._origin()

    def append(self) -> CheckpointWriter:
        """A writer of whole rows (``write``/``flush``), continuing the digest chain."""
        return CheckpointWriter(self.partial, self.digests, self._last)

    def discard(self) -> None:
        for path in (self.partial, self.meta, self.digests):
            path.unlink(missing_ok=True)


def _truncate(path: Path, size: int) -> None:
    if path.stat().st_size > size:
        with open(path, "rb+") as fh:
            fh.truncate(size)


def _cut_to_last_line(path: Path) -> None:
    """Drop a trailing incomplete line (the process died mid-write)."""
    with open(path, "rb+") as fh:
        end = pos = fh.seek(0, os.SEEK_END)
        while pos > 0:  # backwards, 4 KiB at a time
            start = max(0, pos - 4096)
            fh.seek(start)
            newline = fh.read(pos - start).rfind(b"\n")
            if newline >= 0:
                pos = start + newline + 1
                break
            pos = start
        if pos != end:
            fh.truncate(pos)


def checkpoint_base(output: Location, checkpoint_dir: str | None) -> Path:
    """The local path the checkpoint files are named after: the report itself, or one in ``checkpoint_dir``."""
    if isinstance(output, Path):
        return output
    root = Path(checkpoint_dir or Path(tempfile.gettempdir()) / "airflow-provider-transfers" / "checkpoints")
    key = hashlib.sha256(str(output).encode()).hexdigest()[:16]
    return root / f"{key}-{output.name}"
