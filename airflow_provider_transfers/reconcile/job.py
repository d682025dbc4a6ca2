"""One reconciliation run: hold the report, read and fingerprint the input, resume, check, commit.

Usable without an Airflow task context (the benchmark and tests call it directly); the operator is a
thin wrapper around :func:`reconcile`.
"""

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
from airflow_provider_transfers.reconcile.lock import Holder, ReportLock, hold_report
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
        ...

    def shard_row(self, row: int) -> int | None:
        """This source's row number for input row ``row``; ``None`` when it holds no such row."""
        ...

    def shard_spec(self) -> dict[str, int] | None:
        """``{"shard": i, "shards": k}`` for one shard of an input, ``None`` for a whole input."""
        ...


class ReconciliationStoppedError(TransferProviderError):
    """The platform refused the connection's credentials: no later row can succeed, so the run stops.

    Rows checked before the refusal stay in the checkpoint; a rerun after fixing the connection resumes
    after them.
    """

    def __init__(self, conn_id: str | None, platform: str, cause: TransferAuthError, kept: int) -> None:
        self.conn_id = conn_id
        self.cause = cause
        who = f"connection {conn_id!r}" if conn_id else "the connection"
        what = "permission denied (403)" if cause.status_code == 403 else "credentials refused"
        fix = (
            "give its credentials access to this account and these transfers"
            if cause.status_code == 403
            else "fix its login/password (or access key) in Admin > Connections"
        )
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
    """Write the report for ``reader``'s records to ``output``; return the summary counts.

    ``holder`` identifies this run in the report's lock (default: this process, without Airflow context).
    """
    options = options or ReconcileOptions()
    if options.on_invalid not in ("fail", "report"):
        raise ValueError(f"on_invalid must be 'fail' or 'report'; got {options.on_invalid!r}")
    fmt = detect_format(output, options.report_format, what="report")
    options.stale_action.check(hook)
    holder = holder or Holder.current()
    held = hold_report(output, holder, options.lock_timeout, options.checkpoint_dir)
    lock = await asyncio.to_thread(held.__enter__)
    try:
        with contextlib.closing(_first_pass(hook, reader, options, options.fingerprint(hook.platform, fmt))) as seen:
            if seen.records == 0 and not options.allow_empty and has_rows(output, fmt):
                raise EmptyInputError(reader.describe(), str(output))
            return await _check_and_commit(hook, reader, output, fmt, options, seen, lock, holder)
    finally:
        held.__exit__(None, None, None)


async def _check_and_commit(
    hook: TransferHook,
    reader: RecordSource,
    output: Location,
    fmt: str,
    options: ReconcileOptions,
    seen: FirstPass,
    lock: ReportLock,
    holder: Holder,
) -> dict[str, Any]:
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
    checker = _Checker(hook, options, secrets)
    progress = _Progress(tally)
    try:
        with checkpoint.append() as fh:

            def emit(rows: list[ReportRow]) -> None:
                fh.write("".join(row_text(r.to_dict(), fmt) for r in rows))
                fh.flush()
                for r in rows:
                    tally.add(r.cls.value, r.action)
                progress.maybe_log()

            await completion_map(
                _second_pass(hook, reader, seen, done), checker, emit, concurrency=options.max_concurrency
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

    summary: dict[str, Any] = {
        **tally.counts(),
        "report": str(output),
        "actions": {"mode": options.stale_action.mode.value, **{k: tally.actions[k] for k in ACTION_KEYS}},
        "resumed": skipped,
    }
    log.info("Reconciliation of %s done: %s", reader.describe(), summary)
    return summary


ACTION_KEYS = ("planned", "done", "failed")


@dataclass
class FirstPass:
    """What the first pass learnt: the input's size and fingerprint, this report's rows, the repeated ids."""

    records: int
    """Records in the whole input (all shards)."""
    rows: int
    """Rows of this report (this shard's records)."""
    content: str
    """SHA-256 of the whole input's records (what the manifest names: shards of one input share it)."""
    fingerprint: str
    """``content`` and the options that shape rows: a checkpoint is resumed only by a run with the same."""
    duplicates: Duplicates
    digests: RecordDigests

    def close(self) -> None:
        self.digests.close()


def _first_pass(hook: TransferHook, reader: RecordSource, options: ReconcileOptions, shaping: str) -> FirstPass:
    """Validate this report's records; fingerprint the whole input and each record; note every transfer id.

    Invalid records fail here (``on_invalid="fail"``), before any request.
    """
    content = hashlib.sha256()
    digests = RecordDigests(reader.describe())
    duplicates = Duplicates()
    errors: list[str] = []
    invalid_count = rows = 0
    try:
        for raw in reader.whole:
            data = canonical(raw)
            content.update(data)
            digests.add(data)
            mine = reader.shard_row(raw.number)
            rows += mine is not None
            try:
                rec = prepare(raw if mine in (None, raw.number) else dataclasses.replace(raw, number=mine), hook)
            except RecordError as exc:
                if mine is not None:
                    invalid_count += 1
                    if len(errors) < options.max_listed_errors:
                        errors.append(str(exc))
                continue
            duplicates.seen(rec.transfer_id)
    except BaseException:
        digests.close()
        raise
    fingerprint = hashlib.sha256(f"{shaping}\n{content.hexdigest()}".encode()).hexdigest()
    seen = FirstPass(digests.count, rows, content.hexdigest(), fingerprint, duplicates, digests)
    if invalid_count and options.on_invalid == "fail":
        seen.close()
        raise InvalidRecordsError(reader.describe(), errors, invalid_count)
    if invalid_count:
        log.warning("%d invalid record(s) in %s will be reported as class 'error'", invalid_count, reader.describe())
    return seen


def _second_pass(hook: TransferHook, reader: RecordSource, seen: FirstPass, done: RowSet) -> Iterator[Prepared]:
    """Every input record checked against its first-pass digest; this report's rows not yet done, validated.

    A record whose transfer an earlier input record holds is marked ``duplicate_of`` that record's row.
    """
    verifier = seen.digests.verifier()
    repeats: list[tuple[int, int]] = []
    count = 0
    for raw in reader.whole:
        verifier.check(raw, canonical(raw))
        mine = reader.shard_row(raw.number)
        pending = mine is not None and mine not in done
        if not pending and not seen.duplicates.possible:
            continue
        own = raw if mine in (None, raw.number) else dataclasses.replace(raw, number=mine)
        try:
            rec = prepare(own, hook)
        except RecordError as exc:
            if pending:
                yield invalid(own, exc)
            continue
        first = seen.duplicates.first_row(rec.transfer_id, raw.number)
        if first is not None and mine is not None:
            count += 1
            repeats = repeats or [(mine, first)]
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


class _Checker:
    """Checks one record and classifies it; never raises for a per-record failure."""

    def __init__(self, hook: TransferHook, options: ReconcileOptions, secrets: tuple[str, ...]) -> None:
        self.hook = hook
        self.platform = hook.platform
        self.stale_after = options.stale_after
        self.action = options.stale_action
        self.secrets = secrets

    async def __call__(self, rec: Prepared) -> ReportRow:
        if rec.invalid is not None:
            return unchecked(rec, self.platform, RowClass.ERROR, f"invalid record: {rec.invalid}")
        if rec.duplicate_of is not None:
            detail = f"duplicate of row {rec.duplicate_of} (same transfer {rec.transfer_id}): checked there, not again"
            return unchecked(rec, self.platform, RowClass.DUPLICATE, detail)
        try:
            check = await self.hook.acheck_ref(rec.ref)
        except TransferAuthError:
            raise  # the connection is refused: stop the run (ReconciliationStoppedError), not one row
        except TransferNotFoundError as exc:
            return unchecked(rec, self.platform, RowClass.NOT_FOUND, redact(str(exc), self.secrets))
        except TransferProviderError as exc:  # the provider's own errors are written for users
            return unchecked(rec, self.platform, RowClass.ERROR, redact(str(exc), self.secrets))
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
