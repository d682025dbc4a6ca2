"""One reconciliation run: hold the report, read and fingerprint the input, resume, check, commit (no
Airflow task context needed: the benchmark and tests call it directly; the operator wraps :func:`reconcile`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from airflow_provider_transfers.exceptions import TransferAuthError, TransferNotFoundError, TransferProviderError
from airflow_provider_transfers.hooks.base import TransferHook
from airflow_provider_transfers.reconcile.actions import ActionMode, StaleAction
from airflow_provider_transfers.reconcile.checkpoint import Checkpoint
from airflow_provider_transfers.reconcile.classify import ReportRow, RowClass, classify, redact, unchecked
from airflow_provider_transfers.reconcile.commit import commit_report
from airflow_provider_transfers.reconcile.duplicates import Duplicates
from airflow_provider_transfers.reconcile.engine import completion_map
from airflow_provider_transfers.reconcile.fingerprint import EmptyInputError, RecordDigests, canonical
from airflow_provider_transfers.reconcile.lock import Holder, hold_report
from airflow_provider_transfers.reconcile.manifest import InputDigest, Manifest
from airflow_provider_transfers.reconcile.records import RawRecord
from airflow_provider_transfers.reconcile.report import Tally, has_rows, row_text
from airflow_provider_transfers.reconcile.rowset import RowSet
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

    @property
    def whole(self) -> RecordSource:
        """The whole input these records come from (itself, unless this is one shard of it)."""

    def shard_record(self, raw: RawRecord) -> RawRecord | None:
        """This source's record (numbered as its row) for input record ``raw``; ``None`` when it does not hold it."""

    def shard_spec(self) -> dict[str, int] | None:
        """``{"shard": i, "shards": k}`` for one shard of an input, ``None`` for a whole input."""


class ReconciliationStoppedError(TransferProviderError):
    """The platform refused the connection's credentials: no later row can succeed, so the run stops."""

    def __init__(self, conn_id: str | None, platform: str, cause: TransferAuthError, kept: int) -> None:
        self.conn_id = conn_id
        self.cause = cause
        who = f"connection {conn_id!r}" if conn_id else "the connection"
        if cause.status_code == 403:
            what, fix = "permission denied (403)", "give its credentials access to this account and these transfers"
        else:
            what, fix = "credentials refused", "fix its login/password (or access key) in Admin > Connections"
        super().__init__(
            f"Reconciliation stopped at the first authentication failure: {platform} answered {what} for {who} "
            f"({cause}). Every later row would fail the same way, so none was checked. To fix: {fix}, then "
            f"rerun; the {kept} row(s) already checked are kept and the rerun resumes after them."
        )


@dataclass(frozen=True)
class ReconcileOptions:
    stale_after: timedelta | None = timedelta(hours=1)
    max_concurrency: int = 50
    on_invalid: OnInvalid = "fail"
    report_format: str | None = None
    stale_action: StaleAction = field(default_factory=StaleAction)
    checkpoint_dir: str | None = None
    max_listed_errors: int = 20
    lock_timeout: timedelta | None = None
    """How long to wait for another run writing the same report; ``None``: fail at once."""
    allow_empty: bool = False
    """Let an input without records replace a report that has rows."""

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
    hook: TransferHook,
    reader: RecordSource,
    output: Location,
    options: ReconcileOptions | None = None,
    holder: Holder | None = None,
) -> dict[str, Any]:
    """Write the report for ``reader``'s records to ``output``; return the summary counts. ``holder`` names
    this run in the report's lock (default: this process, without Airflow context)."""
    options = options or ReconcileOptions()
    if options.on_invalid not in ("fail", "report"):
        raise ValueError(f"on_invalid must be 'fail' or 'report'; got {options.on_invalid!r}")
    fmt = detect_format(output, options.report_format, what="report")
    options.stale_action.check(hook)
    holder = holder or Holder.current()
    with contextlib.ExitStack() as stack:
        held = hold_report(output, holder, options.lock_timeout, options.checkpoint_dir)
        lock = await asyncio.to_thread(stack.enter_context, held)  # waiting for the lock must not block the loop
        digests = stack.enter_context(contextlib.closing(RecordDigests(reader.describe())))
        seen = _first_pass(hook, reader, options, options.fingerprint(hook.platform, fmt), digests)
        if seen.records == 0 and not options.allow_empty and has_rows(output, fmt):
            raise EmptyInputError(reader.describe(), str(output))
        checkpoint = Checkpoint(output, fmt, seen.fingerprint, options.checkpoint_dir)
        resumed = checkpoint.resume(seen.rows)
        if resumed is None:
            checkpoint.start()
            tally, done = Tally(), RowSet(seen.rows)
        else:
            tally, done = resumed.tally, resumed.done
            log.info("Resuming %s: %d row(s) already checked in %s", output, tally.rows, checkpoint.partial)
        skipped = tally.rows

        secrets: tuple[str, ...] = ()
        if isinstance(hook, TransferHook):
            await hook.aget_conn()
            secrets = tuple(hook.settings.secrets)
        last_log = time.monotonic()
        try:
            with checkpoint.append() as fh:

                def emit(rows: list[ReportRow]) -> None:
                    nonlocal last_log
                    fh.write("".join(row_text(r.to_dict(), fmt) for r in rows))
                    fh.flush()
                    for r in rows:
                        tally.add(r.cls.value, r.action)
                    if time.monotonic() - last_log >= PROGRESS_EVERY_S:
                        last_log = time.monotonic()
                        log.info("Reconciliation progress: %s", tally.counts())

                await completion_map(
                    _second_pass(hook, reader, seen, done),
                    lambda rec: _check(hook, rec, options, secrets),
                    emit,
                    concurrency=options.max_concurrency,
                )
        except TransferAuthError as exc:
            raise ReconciliationStoppedError(getattr(hook, "conn_id", None), hook.platform, exc, tally.rows) from exc
        manifest = Manifest(
            format=fmt,
            committed=None,
            input=InputDigest(seen.records, seen.content),
            run=holder.to_dict(),
            shard=reader.shard_spec(),
        )
        commit_report(checkpoint.partial, output, seen.rows, manifest, lock)
        checkpoint.discard()

        summary = tally.summary(str(output), options.stale_action.mode.value, skipped)
        log.info("Reconciliation of %s done: %s", reader.describe(), summary)
        return summary


@dataclass
class FirstPass:
    """What the first pass learnt: ``records`` in the whole input (all shards), ``rows`` of this report,
    ``content`` (SHA-256 of the whole input, shared by its shards), ``fingerprint`` (``content`` and the
    options that shape rows: a checkpoint is resumed only by a run with the same), the repeated ids."""

    records: int
    rows: int
    content: str
    fingerprint: str
    duplicates: Duplicates
    digests: RecordDigests


def _first_pass(
    hook: TransferHook, reader: RecordSource, options: ReconcileOptions, shaping: str, digests: RecordDigests
) -> FirstPass:
    """Validate this report's records (failing before any request); fingerprint the input; note every id."""
    content = hashlib.sha256()
    duplicates = Duplicates()
    errors: list[str] = []
    invalid_count = rows = 0
    for raw in reader.whole:
        data = canonical(raw)
        content.update(data)
        digests.add(data)
        mine = reader.shard_record(raw)
        rows += mine is not None
        try:
            rec = prepare(mine or raw, hook)
        except RecordError as exc:
            if mine is not None:
                invalid_count += 1
                if len(errors) < options.max_listed_errors:
                    errors.append(str(exc))
            continue
        duplicates.seen(rec.transfer_id)
    if invalid_count and options.on_invalid == "fail":
        raise InvalidRecordsError(reader.describe(), errors, invalid_count)
    if invalid_count:
        log.warning("%d invalid record(s) in %s will be reported as class 'error'", invalid_count, reader.describe())
    fingerprint = hashlib.sha256(f"{shaping}\n{content.hexdigest()}".encode()).hexdigest()
    return FirstPass(digests.count, rows, content.hexdigest(), fingerprint, duplicates, digests)


def _second_pass(hook: TransferHook, reader: RecordSource, seen: FirstPass, done: RowSet) -> Iterator[Prepared]:
    """This report's rows not yet done, validated, a repeat marked ``duplicate_of`` its first record's row;
    every input record checked against its first-pass digest."""
    verifier = seen.digests.verifier()
    repeats: list[tuple[int, int]] = []
    count = 0
    for raw in reader.whole:
        verifier.check(raw, canonical(raw))
        mine = reader.shard_record(raw)
        pending = mine is not None and mine.number not in done
        if not pending and not seen.duplicates.possible:
            continue
        try:
            rec = prepare(mine or raw, hook)
        except RecordError as exc:
            if pending:
                yield invalid(mine or raw, exc)
            continue
        first = seen.duplicates.first_row(rec.transfer_id, raw.number)
        if first is not None and mine is not None:
            count += 1
            repeats = repeats or [(mine.number, first)]
        if pending:
            yield rec if first is None else dataclasses.replace(rec, duplicate_of=first)
    verifier.finish()
    if repeats:
        log.warning(
            "%d record(s) in %s repeat a transfer of an earlier record; each is checked once and the repeats "
            "are reported as class 'duplicate' (first: row %d repeats row %d)",
            count,
            reader.describe(),
            *repeats[0],
        )


async def _check(hook: TransferHook, rec: Prepared, options: ReconcileOptions, secrets: tuple[str, ...]) -> ReportRow:
    """Check one record and classify it; never raises for a per-record failure."""
    platform = hook.platform
    if rec.invalid is not None:
        return unchecked(rec, platform, RowClass.ERROR, f"invalid record: {rec.invalid}")
    if rec.duplicate_of is not None:
        detail = f"duplicate of row {rec.duplicate_of} (same transfer {rec.transfer_id}): checked there, not again"
        return unchecked(rec, platform, RowClass.DUPLICATE, detail)
    try:
        check = await hook.acheck_ref(rec.ref)
    except TransferAuthError:
        raise  # the connection is refused: stop the run (ReconciliationStoppedError), not one row
    except Exception as exc:  # the provider's own errors are written for users; others get their type
        cls = RowClass.NOT_FOUND if isinstance(exc, TransferNotFoundError) else RowClass.ERROR
        detail = str(exc) if isinstance(exc, TransferProviderError) else f"{type(exc).__name__}: {exc}"
        return unchecked(rec, platform, cls, redact(detail, secrets))
    row = classify(rec, check, platform, options.stale_after)
    if row.cls is RowClass.STALE and options.stale_action.mode is not ActionMode.OFF:
        row.action = await options.stale_action(hook, rec, secrets)
    return row
