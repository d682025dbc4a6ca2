"""Classifying one record against its check into a report row (pure). Precedence: ``not_found``/``error``,
then ``stale``, then ``drifted``, else ``in_sync`` (docs: Classes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from airflow_provider_transfers.models import TransferCheck, TransferStatus
from airflow_provider_transfers.reconcile.validate import Prepared


class RowClass(StrEnum):
    IN_SYNC = "in_sync"
    DRIFTED = "drifted"
    STALE = "stale"
    NOT_FOUND = "not_found"
    ERROR = "error"
    DUPLICATE = "duplicate"
    """A later record of a transfer already in the input: not checked again (see ``detail`` for the row)."""


REPORT_COLUMNS = (
    "row",
    "platform",
    "transfer_id",
    "reference",
    "recorded_status",
    "actual_status",
    "class",
    "detail",
    "action",
    "checked_at",
)
"""Report columns, in order. ``reference`` holds the platform ids (an object; JSON text in CSV)."""

MAX_DETAIL = 500


@dataclass(slots=True)
class ReportRow:
    row: int
    platform: str
    transfer_id: str
    reference: dict[str, str]
    recorded_status: str
    actual_status: str
    cls: RowClass
    detail: str
    checked_at: datetime
    action: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "platform": self.platform,
            "transfer_id": self.transfer_id,
            "reference": self.reference,
            "recorded_status": self.recorded_status,
            "actual_status": self.actual_status,
            "class": self.cls.value,
            "detail": one_line(self.detail),
            "action": one_line(self.action),
            "checked_at": self.checked_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }


def one_line(text: str) -> str:
    """Report cells are single-line (keeps CSV rows one per line, which resuming relies on) and bounded."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_DETAIL else flat[: MAX_DETAIL - 3] + "..."


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _format_age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def classify(rec: Prepared, check: TransferCheck, platform: str, stale_after: timedelta | None) -> ReportRow:
    actual = check.status.value
    row = ReportRow(
        rec.row, platform, rec.transfer_id, rec.reference, rec.recorded_status, actual, RowClass.IN_SYNC,
        check.detail, check.checked_at,
    )  # fmt: skip
    drifted = rec.recorded_status != actual
    drift_note = f"recorded {rec.recorded_status}, platform says {actual}"
    if check.status is TransferStatus.ACTIVE and stale_after is not None:
        if rec.created_at is None:
            row.detail = f"{check.detail}; age unknown (no created_at, date_created or tm_create)"
        else:
            age = check.checked_at - rec.created_at
            if age > stale_after:
                row.cls = RowClass.STALE
                mismatch = f"; {drift_note}" if drifted else ""
                row.detail = (
                    f"still active {_format_age(age)} after creation (limit {_format_age(stale_after)}){mismatch}: "
                    f"{check.detail}"
                )
                return row
    if drifted:
        row.cls = RowClass.DRIFTED
        row.detail = f"{drift_note}: {check.detail}"
    return row


def unchecked(rec: Prepared, platform: str, cls: RowClass, detail: str) -> ReportRow:
    """A row without an actual status: ``not_found``, ``error``, a duplicate or an invalid record."""
    now = datetime.now(UTC)
    return ReportRow(rec.row, platform, rec.transfer_id, rec.reference, rec.recorded_status, "", cls, detail, now)
