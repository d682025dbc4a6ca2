"""One reconciliation run: validate the input, resume any checkpoint, check concurrently, commit.

Usable without an Airflow task context (the benchmark and tests call it directly); the operator is a
thin wrapper around :func:`reconcile`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from airflow_provider_transfers.exceptions import TransferAuthError, TransferNotFoundError, TransferProviderError
from airflow_provider_transfers.hooks.base import TransferHook
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

    @property
    def whole(self) -> RecordSource:
        """The whole input these records come from (itself, unless this is one shard of it)."""
        ...

    def shard_row(self, row: int) -> int | None:
        """This source's row number for input row ``row``; ``None`` when it holds no such row."""
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
    hook: TransferHook, reader: RecordSource, output: Location, options: ReconcileOptions | None = None
) -> dict[str, Any]:
    """Write the report for ``reader``'s records to ``output``; return the summary counts."""
    options = options or ReconcileOptions()
    if options.on_invalid not in ("fail", "report"):
        raise ValueError(f"on_invalid must be 'fail' or 'report'; got {options.on_invalid!r}")
    fmt = detect_format(output, options.report_format, what="report")
    options.stale_action.check(hook)
    fingerprint, duplicates = _validate_all(hook, reader, options, options.fingerprint(hook.platform, fmt))

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
    try:
        with checkpoint.append() as fh:

            def emit(rows: list[ReportRow]) -> None:
                fh.write("".join(row_text(r.to_dict(), fmt) for r in rows))
                fh.flush()
                for r in rows:
                    tally.add(r.cls.value, r.action)
                progress.maybe_log()

            await ordered_map(
                _pending(hook, reader, resumed, duplicates),
                checker,
                emit,
                concurrency=options.max_concurrency,
                window=options.window,
            )
    except TransferAuthError as exc:
        raise ReconciliationStoppedError(getattr(hook, "conn_id", None), hook.platform, exc, tally.rows) from exc
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


def _validate_all(
    hook: TransferHook, reader: RecordSource, options: ReconcileOptions, shaping: str
) -> tuple[str, dict[int, int]]:
    """First pass: validate every record, fingerprint the input and find duplicate transfers.

    Returns the fingerprint and ``{row: first row}`` for each record whose transfer id (compared
    case-insensitively) an earlier record already holds; only the ids seen are kept in memory.
    """
    digest = hashlib.sha256(shaping.encode())
    errors: list[str] = []
    count = 0
    first_row: dict[str, int] = {}
    duplicates: dict[int, int] = {}
    for raw in reader:
        digest.update(_canonical(raw))
        try:
            rec = prepare(raw, hook)
        except RecordError as exc:
            count += 1
            if len(errors) < options.max_listed_errors:
                errors.append(str(exc))
            continue
        first = first_row.setdefault(rec.transfer_id.lower(), raw.number)
        if first != raw.number:
            duplicates[raw.number] = first
    if reader.whole is not reader:  # a shard: repeats are found over the whole input, first rows are input rows
        duplicates = _shard_duplicates(hook, reader.whole, reader.shard_row)
    if count and options.on_invalid == "fail":
        raise InvalidRecordsError(reader.describe(), errors, count)
    if count:
        log.warning("%d invalid record(s) in %s will be reported as class 'error'", count, reader.describe())
    if duplicates:
        log.warning(
            "%d record(s) in %s repeat a transfer of an earlier record; each is checked once and the repeats "
            "are reported as class 'duplicate' (first: row %d repeats row %d)",
            len(duplicates),
            reader.describe(),
            *next(iter(duplicates.items())),
        )
    return digest.hexdigest(), duplicates


def _shard_duplicates(
    hook: TransferHook, whole: RecordSource, shard_row: Callable[[int], int | None]
) -> dict[int, int]:
    """``{shard row: first input row}`` for this shard's records whose transfer an earlier input record holds."""
    first_row: dict[str, int] = {}
    duplicates: dict[int, int] = {}
    for raw in whole:
        try:
            rec = prepare(raw, hook)
        except RecordError:
            continue  # reported by the shard that holds it
        first = first_row.setdefault(rec.transfer_id.lower(), raw.number)
        mine = shard_row(raw.number)
        if first != raw.number and mine is not None:
            duplicates[mine] = first
    return duplicates


def _canonical(raw: RawRecord) -> bytes:
    body = raw.parse_error if raw.parse_error is not None else raw.data
    return json.dumps([raw.number, body], sort_keys=True, default=str, separators=(",", ":")).encode() + b"\n"


def _pending(hook: TransferHook, reader: RecordSource, skip: int, duplicates: Mapping[int, int]) -> Iterator[Prepared]:
    """Second pass: the records after the ``skip`` already in the checkpoint, validated again (cheap)."""
    for raw in reader:
        if raw.number <= skip:
            continue
        try:
            rec = prepare(raw, hook)
        except RecordError as exc:
            yield invalid(raw, str(exc))
            continue
        first = duplicates.get(raw.number)
        yield rec if first is None else dataclasses.replace(rec, duplicate_of=first)


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
