"""One reconciliation run: validate the input, resume any checkpoint, check concurrently, commit.

Usable without an Airflow task context (the benchmark and tests call it directly); the operator is a
thin wrapper around :func:`reconcile`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from airflow_provider_transfers.exceptions import TransferNotFoundError
from airflow_provider_transfers.hooks.base import TransferHook
from airflow_provider_transfers.models import TransferCheck
from airflow_provider_transfers.reconcile.actions import ActionMode, StaleAction
from airflow_provider_transfers.reconcile.checkpoint import Checkpoint
from airflow_provider_transfers.reconcile.classify import ReportRow, RowClass, classify, redact, unchecked
from airflow_provider_transfers.reconcile.engine import ordered_map
from airflow_provider_transfers.reconcile.records import RawRecord
from airflow_provider_transfers.reconcile.report import Tally, row_text
from airflow_provider_transfers.reconcile.storage import Location, detect_format
from airflow_provider_transfers.reconcile.validate import (
    InvalidRecordsError,
    Prepared,
    RecordError,
    invalid,
    prepare,
)

log = logging.getLogger(__name__)

OnInvalid = Literal["fail", "report"]
PROGRESS_EVERY_S = 30.0


class RecordSource(Protocol):
    """Records to check, iterable more than once: a ``RecordReader``, or one shard of it (``ShardReader``)."""

    def __iter__(self) -> Iterator[RawRecord]: ...

    def describe(self) -> str: ...


class CheckingHook(Protocol):
    """What a reconciliation needs from a hook (``TransferHook`` provides it; tests may fake it)."""

    @property
    def platform(self) -> str: ...

    def transfer_id(self, transfer: Mapping[str, Any]) -> str: ...

    async def acheck_transfer(self, transfer: Mapping[str, Any]) -> TransferCheck: ...


@dataclass(frozen=True)
class ReconcileOptions:
    stale_after: timedelta | None = timedelta(hours=1)
    max_concurrency: int = 50
    window: int | None = None
    """Rows started but not yet written (default ``max(4 * max_concurrency, 1024)``)."""
    on_invalid: OnInvalid = "fail"
    report_format: str | None = None
    stale_action: StaleAction = field(default_factory=StaleAction)
    checkpoint_dir: str | None = None
    max_listed_errors: int = 20

    def fingerprint(self, platform: str, fmt: str) -> str:
        shaping = {
            "platform": platform,
            "format": fmt,
            "stale_after": None if self.stale_after is None else self.stale_after.total_seconds(),
            "on_invalid": self.on_invalid,
            "action": self.stale_action.fingerprint(),
        }
        return json.dumps(shaping, sort_keys=True, default=str)


async def reconcile(
    hook: CheckingHook, reader: RecordSource, output: Location, options: ReconcileOptions | None = None
) -> dict[str, Any]:
    """Write the report for ``reader``'s records to ``output``; return the summary counts."""
    options = options or ReconcileOptions()
    if options.on_invalid not in ("fail", "report"):
        raise ValueError(f"on_invalid must be 'fail' or 'report'; got {options.on_invalid!r}")
    fmt = detect_format(output, options.report_format, what="report")
    options.stale_action.check(hook.platform)
    fingerprint = _validate_all(hook, reader, options, options.fingerprint(hook.platform, fmt))

    checkpoint = Checkpoint(output, fmt, fingerprint, options.checkpoint_dir)
    tally = checkpoint.resume()
    resumed = tally.rows if tally is not None else 0
    if tally is None:
        checkpoint.start()
        tally = Tally()
    else:
        log.info("Resuming %s: %d row(s) already checked in %s", output, resumed, checkpoint.partial)

    secrets: tuple[str, ...] = ()
    if isinstance(hook, TransferHook):
        await hook.aget_conn()
        secrets = tuple(hook.settings.secrets)
    checker = _Checker(hook, options, secrets)
    progress = _Progress(tally)
    with checkpoint.append() as fh:

        def emit(rows: list[ReportRow]) -> None:
            fh.write("".join(row_text(r.to_dict(), fmt) for r in rows))
            fh.flush()
            for r in rows:
                tally.add(r.cls.value, r.action)
            progress.maybe_log()

        await ordered_map(
            _pending(hook, reader, resumed),
            checker,
            emit,
            concurrency=options.max_concurrency,
            window=options.window,
        )
    checkpoint.commit()
    summary: dict[str, Any] = {
        **tally.counts(),
        "report": str(output),
        "actions": {"mode": options.stale_action.mode.value, **{k: tally.actions[k] for k in _ACTION_KEYS}},
        "resumed": resumed,
    }
    log.info("Reconciliation of %s done: %s", reader.describe(), summary)
    return summary


_ACTION_KEYS = ("planned", "done", "failed")


def _validate_all(hook: CheckingHook, reader: RecordSource, options: ReconcileOptions, shaping: str) -> str:
    """First pass: validate every record (nothing held in memory) and fingerprint the input."""
    digest = hashlib.sha256(shaping.encode())
    errors: list[str] = []
    count = 0
    for raw in reader:
        digest.update(_canonical(raw))
        try:
            prepare(raw, hook)
        except RecordError as exc:
            count += 1
            if len(errors) < options.max_listed_errors:
                errors.append(str(exc))
    if count and options.on_invalid == "fail":
        raise InvalidRecordsError(reader.describe(), errors, count)
    if count:
        log.warning("%d invalid record(s) in %s will be reported as class 'error'", count, reader.describe())
    return digest.hexdigest()


def _canonical(raw: RawRecord) -> bytes:
    body = raw.parse_error if raw.parse_error is not None else raw.data
    return json.dumps([raw.number, body], sort_keys=True, default=str, separators=(",", ":")).encode() + b"\n"


def _pending(hook: CheckingHook, reader: RecordSource, skip: int) -> Iterator[Prepared]:
    """Second pass: the records after the ``skip`` already in the checkpoint, validated again (cheap)."""
    for raw in reader:
        if raw.number <= skip:
            continue
        try:
            yield prepare(raw, hook)
        except RecordError as exc:
            yield invalid(raw, str(exc))


class _Checker:
    """Checks one record and classifies it; never raises for a per-record failure."""

    def __init__(self, hook: CheckingHook, options: ReconcileOptions, secrets: tuple[str, ...]) -> None:
        self.hook = hook
        self.platform = hook.platform
        self.stale_after = options.stale_after
        self.action = options.stale_action
        self.secrets = secrets

    async def __call__(self, rec: Prepared) -> ReportRow:
        if rec.invalid is not None:
            return unchecked(rec, self.platform, RowClass.ERROR, f"invalid record: {rec.invalid}")
        try:
            check = await self.hook.acheck_transfer(rec.transfer)
        except TransferNotFoundError as exc:
            return unchecked(rec, self.platform, RowClass.NOT_FOUND, redact(str(exc), self.secrets))
        except Exception as exc:
            return unchecked(rec, self.platform, RowClass.ERROR, redact(f"{type(exc).__name__}: {exc}", self.secrets))
        row = classify(rec, check, self.platform, self.stale_after)
        if row.cls is RowClass.STALE and self.action.mode is not ActionMode.OFF:
            row.action = await self.action(self.hook, rec, self.secrets)
        return row


class _Progress:
    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.last = time.monotonic()

    def maybe_log(self) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            log.info("Reconciliation progress: %s", self.tally.counts())
