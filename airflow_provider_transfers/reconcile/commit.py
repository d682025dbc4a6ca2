"""Committing a checkpoint: its rows in row order (through a row -> offset index) into a staging file
beside the report, then into place between two writes of the manifest (docs: Reconciliation internals).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import uuid
from array import array
from pathlib import Path

from airflow.sdk import ObjectStoragePath

from airflow_provider_transfers.reconcile.checkpoint import CorruptCheckpoint
from airflow_provider_transfers.reconcile.lock import ReportLock
from airflow_provider_transfers.reconcile.manifest import (
    DigestCounter,
    Manifest,
    ManifestError,
    ReportDigest,
    read_manifest,
    write_manifest,
)
from airflow_provider_transfers.reconcile.report import header_text
from airflow_provider_transfers.reconcile.storage import Location

log = logging.getLogger(__name__)

STAGING_SUFFIX = ".commit"


def commit_report(partial: Path, output: Location, rows: int, manifest: Manifest, lock: ReportLock) -> ReportDigest:
    """Put the checkpoint ``partial`` (rows ``1..rows`` in any order) in place as ``output``, in row order, with
    ``manifest`` (its report entries filled in here); a run whose ``lock`` no longer holds commits nothing."""
    index = _row_offsets(partial, manifest.format, rows)
    output.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(output, Path):
        staging: Location = output.with_name(output.name + STAGING_SUFFIX)  # one writer (the lock): a fixed name
    else:
        staging = output.parent / f".{output.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(partial, "rb") as src, staging.open("wb") as dst:
            counter = DigestCounter()
            header = header_text(manifest.format).encode()
            dst.write(header)
            counter.update(header)
            for offset in index:
                src.seek(offset)
                line = src.readline()
                dst.write(line)
                counter.update(line)
            if isinstance(staging, Path):
                dst.flush()
                os.fsync(dst.fileno())
        digest = counter.result(rows)
        lock.verify()
        write_manifest(output, dataclasses.replace(manifest, committed=_committed_before(output), pending=digest))
        _move(staging, output)
        write_manifest(output, dataclasses.replace(manifest, committed=digest, pending=None))
    except BaseException:
        with contextlib.suppress(Exception):
            staging.unlink()
        raise
    return digest


def _row_offsets(partial: Path, fmt: str, rows: int) -> array[int]:
    """Where each row ``1..rows`` starts in the checkpoint; every row exactly once, or ``CorruptCheckpoint``."""
    index = array("q", [-1]) * rows
    with open(partial, "rb") as fh:
        offset = len(fh.readline()) if header_text(fmt) else 0
        for line in fh:
            try:
                number = int(line.split(b",", 1)[0]) if fmt == "csv" else int(json.loads(line)["row"])
            except (ValueError, KeyError, TypeError):
                raise CorruptCheckpoint(f"a checkpoint line has no row number: {line[:80]!r}") from None
            if not 1 <= number <= rows or index[number - 1] != -1:
                raise CorruptCheckpoint(f"{partial}: row {number} is repeated or outside 1..{rows}")
            index[number - 1] = offset
            offset += len(line)
    missing = next((n for n, offset in enumerate(index, start=1) if offset < 0), None)
    if missing is not None:
        raise CorruptCheckpoint(f"{partial}: row {missing} is missing")
    return index


def _committed_before(output: Location) -> ReportDigest | None:
    """The report now in place, as its manifest records it (kept valid while the new one moves in)."""
    try:
        previous = read_manifest(output)
    except ManifestError as exc:
        log.warning("Replacing an unreadable manifest: %s", exc)
        return None
    return previous.committed if previous is not None else None


def _move(staging: Location, output: Location) -> None:
    """Rename (local: atomic, then the directory synced); object storage: a move, a whole-object copy on S3/GCS."""
    if isinstance(staging, ObjectStoragePath):
        staging.rename(output)
    elif isinstance(output, Path):
        os.replace(staging, output)
        with contextlib.suppress(OSError):  # the rename itself durable
            fd = os.open(output.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
