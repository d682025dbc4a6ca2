"""The input record schema: a record (nested ``{"transfer": ..., "recorded_status": ...}`` or flat ids)
into a typed reference through the hook, or a ``RecordError`` naming the record and the field."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pendulum

from airflow_provider_transfers.exceptions import TransferProviderError
from airflow_provider_transfers.hooks.base import TransferHook, TransferRef
from airflow_provider_transfers.models import TransferStatus
from airflow_provider_transfers.reconcile.records import RawRecord

RECORD_FIELDS = ("transfer", "recorded_status", "created_at")
"""Keys of a record that are not part of the transfer reference."""

_STATUS_VALUES = [s.value for s in TransferStatus]


class RecordError(ValueError):
    """A record that does not follow the schema (``record N: ...``); ``ref`` and ``recorded_status`` are
    the parts of it that were valid (kept in its error row)."""

    def __init__(self, message: str, ref: TransferRef | None = None, recorded_status: str = "") -> None:
        super().__init__(message)
        self.ref = ref
        self.recorded_status = recorded_status


class InvalidRecordsError(TransferProviderError, ValueError):
    """The input holds invalid records; raised before any request is sent."""

    def __init__(self, source: str, errors: list[str], count: int) -> None:
        self.errors = errors
        self.count = count
        shown = "\n  ".join(errors)
        more = f"\n  ... and {count - len(errors)} more" if count > len(errors) else ""
        super().__init__(f"{count} invalid record(s) in {source}; nothing was checked:\n  {shown}{more}")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated record, or (``invalid`` set) one reported as an ``error`` row."""

    row: int
    ref: TransferRef | None
    transfer_id: str
    reference: dict[str, str]
    recorded_status: str
    created_at: datetime | None
    invalid: str | None = None
    duplicate_of: int | None = None
    """Row number of the first record of the same transfer (this one is reported, not checked)."""


def prepare(raw: RawRecord, hook: TransferHook | type[TransferHook]) -> Prepared:
    """Validate one record; raise ``RecordError`` naming the record and field (the first problem found)."""
    where = raw.where
    if raw.parse_error is not None:
        raise RecordError(f"{where}: {raw.parse_error}")
    data = raw.data
    if not isinstance(data, Mapping):
        raise RecordError(f"{where}: expected an object with 'recorded_status' and a transfer; got {_kind(data)}")
    recorded = data.get("recorded_status")
    status = recorded.strip().lower() if isinstance(recorded, str) else ""
    problem = None
    if status not in _STATUS_VALUES:
        shown = "missing" if recorded is None else repr(recorded)
        problem = f"{where}: field 'recorded_status' must be one of {', '.join(_STATUS_VALUES)}; got {shown}"
        status = ""
    ref: TransferRef | None = None
    try:
        transfer = _transfer_of(data, where)
        try:
            ref = hook.transfer_ref(transfer)
        except (ValueError, TransferProviderError) as exc:
            raise RecordError(f"{where}: {exc}") from None
        created = _created_at(data.get("created_at"), hook.created_value(transfer), where)
    except RecordError as exc:
        problem = problem or str(exc)
    if problem is not None:
        raise RecordError(problem, ref, status)
    assert ref is not None
    return Prepared(raw.number, ref, ref.transfer_id, ref.fields(), status, created)


def invalid(raw: RawRecord, error: RecordError) -> Prepared:
    """A record kept as an ``error`` row (``on_invalid="report"``), with the ids and status that were valid."""
    ids = (error.ref.transfer_id, error.ref.fields()) if error.ref is not None else ("", {})
    return Prepared(raw.number, None, *ids, error.recorded_status, None, invalid=str(error))


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _transfer_of(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    if "transfer" not in data:
        return {k: v for k, v in data.items() if k not in RECORD_FIELDS}
    transfer = data["transfer"]
    if isinstance(transfer, str):
        try:
            transfer = json.loads(transfer)
        except ValueError:
            raise RecordError(f"{where}: field 'transfer' holds text that is not JSON") from None
        except RecursionError:
            raise RecordError(f"{where}: field 'transfer' holds JSON nested too deeply") from None
    if not isinstance(transfer, Mapping):
        raise RecordError(f"{where}: field 'transfer' must be the transfer's JSON object; got {_kind(transfer)}")
    return dict(transfer)


def _created_at(given: Any, own: tuple[str, Any] | None, where: str) -> datetime | None:
    """The record's ``created_at``, else the transfer's own creation field (as the hook names it)."""
    if given not in (None, ""):
        return parse_time(given, f"{where}: field 'created_at'")
    if own is not None:
        return parse_time(own[1], f"{where}: field \"transfer['{own[0]}']\"")
    return None


def parse_time(value: Any, where: str) -> datetime:
    """ISO 8601 (or VoIPbin's ``2026-03-01 10:00:15.000000``); naive means UTC."""
    parsed: Any = value
    if not isinstance(value, datetime):
        try:
            parsed = datetime.fromisoformat(str(value))  # fast path; pendulum for the rarer ISO forms
        except ValueError:
            with contextlib.suppress(ValueError, TypeError):
                parsed = pendulum.parse(str(value), tz="UTC")
    if not isinstance(parsed, datetime):
        raise RecordError(f"{where} must be an ISO 8601 date-time like 2026-03-01T10:00:00Z; got {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
