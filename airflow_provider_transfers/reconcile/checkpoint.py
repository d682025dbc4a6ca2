"""Atomic, resumable report files.

Rows are appended in input order to a checkpoint file, ``<output>.partial``, described by
``<output>.partial.meta`` (a fingerprint of the input and of the options that shape the rows). When
every row is written the checkpoint is renamed onto ``<output>``, so ``output_path`` only ever holds a
complete report (a previous one stays intact until then). A rerun with the same fingerprint cuts the
checkpoint back to its last complete line and continues after the rows it holds; any other checkpoint
is discarded.

Object storage (anything but a local path or ``file://``) cannot be appended to, so its checkpoint
lives in a local directory (``checkpoint_dir``, default under the system temp dir): resuming then works
on the same machine only. At the end the file is uploaded next to the output under a temporary name and
moved onto it; on stores where a move is a copy (S3, GCS) the copy of a whole object is still atomic for
readers, who see the old report or the new one, never a part.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO

from airflow.sdk import ObjectStoragePath

from airflow_provider_transfers.reconcile.report import ReportFormatError, Tally, header_text, iter_rows
from airflow_provider_transfers.reconcile.storage import Location

META_VERSION = 1
PARTIAL_SUFFIX = ".partial"
META_SUFFIX = ".partial.meta"


class Checkpoint:
    """The checkpoint of one report: ``resume()``, then ``append()`` rows, then ``commit()``."""

    def __init__(self, output: Location, fmt: str, fingerprint: str, checkpoint_dir: str | None = None) -> None:
        self.output = output
        self.fmt = fmt
        self.fingerprint = fingerprint
        if isinstance(output, Path):
            base = output
        else:
            root = Path(checkpoint_dir or Path(tempfile.gettempdir()) / "airflow-provider-transfers" / "checkpoints")
            key = hashlib.sha256(str(output).encode()).hexdigest()[:16]
            base = root / f"{key}-{output.name}"
        self.partial = base.with_name(base.name + PARTIAL_SUFFIX)
        self.meta = base.with_name(base.name + META_SUFFIX)

    # ------------------------------------------------------------------ resume

    def resume(self) -> Tally | None:
        """The counts of the rows an earlier run of the same input already wrote, or ``None`` (start afresh)."""
        if not self._meta_matches() or not self.partial.exists():
            self.discard()
            return None
        _cut_to_last_line(self.partial)
        tally = Tally()
        try:
            with open(self.partial, encoding="utf-8", newline="") as fh:
                for row in iter_rows(fh, self.fmt, source=str(self.partial)):
                    if row["row"] != tally.rows + 1:
                        raise ReportFormatError("rows out of sequence")
                    tally.add(row["class"], row["action"])
        except ReportFormatError:
            self.discard()
            return None
        return tally

    def _meta_matches(self) -> bool:
        try:
            meta = json.loads(self.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return (
            isinstance(meta, dict)
            and meta.get("version") == META_VERSION
            and meta.get("fingerprint") == (self.fingerprint)
        )

    # ------------------------------------------------------------------ writing

    def start(self) -> None:
        """A fresh checkpoint: the meta first, then an empty (or header-only) partial file."""
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(self.meta, json.dumps({"version": META_VERSION, "fingerprint": self.fingerprint}))
        with open(self.partial, "w", encoding="utf-8", newline="") as fh:
            fh.write(header_text(self.fmt))

    def append(self) -> IO[str]:
        return open(self.partial, "a", encoding="utf-8", newline="")

    def commit(self) -> None:
        """Make the complete checkpoint the report at ``output``, atomically; then drop the checkpoint."""
        _fsync(self.partial)
        if isinstance(self.output, Path):
            self.output.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.partial, self.output)
            _fsync_dir(self.output.parent)
        else:
            _upload_then_move(self.partial, self.output)
            self.partial.unlink()
        self.meta.unlink(missing_ok=True)

    def discard(self) -> None:
        self.partial.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)


def _cut_to_last_line(path: Path) -> None:
    """Drop a trailing incomplete line (the process died mid-write)."""
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        pos = size
        step = 4096
        while pos > 0:
            start = max(0, pos - step)
            fh.seek(start)
            chunk = fh.read(pos - start)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                keep = start + idx + 1
                if keep != size:
                    fh.truncate(keep)
                return
            pos = start
        fh.truncate(0)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _upload_then_move(local: Path, target: ObjectStoragePath) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(local, "rb") as src, staging.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        staging.rename(target)
    except BaseException:
        with contextlib.suppress(Exception):
            staging.unlink()
        raise
