"""Report rows on disk: JSON Lines or CSV, one row per physical line (so a checkpoint can be cut back
to its last complete row after a crash)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_transfers.reconcile.classify import REPORT_COLUMNS, RowClass
from airflow_provider_transfers.reconcile.manifest import DigestCounter
from airflow_provider_transfers.reconcile.records import decoded_lines
from airflow_provider_transfers.reconcile.storage import Location, open_binary

ACTION_OUTCOMES = ("planned", "done", "failed")
"""An ``action`` cell starts with one of these and a colon: ``planned`` (dry run), ``done``, ``failed``."""


class ReportFormatError(ValueError):
    """A file that is not a reconciliation report (missing columns, a line that does not parse)."""


@dataclass
class Tally:
    """Counts of rows by class and of stale actions by outcome (rebuilt from a checkpoint on resume)."""

    rows: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)

    def add(self, cls: str, action: str) -> None:
        self.rows += 1
        self.classes[cls] += 1
        outcome = action.partition(":")[0]
        if outcome in ACTION_OUTCOMES:
            self.actions[outcome] += 1

    def counts(self) -> dict[str, int]:
        return {"total": self.rows, **{c.value: self.classes[c.value] for c in RowClass}}

    def summary(self, report: str, mode: str, resumed: int) -> dict[str, Any]:
        """What a run (or a merge) returns: the counts, the report, the actions by outcome, resumed rows."""
        actions = {"mode": mode, **{k: self.actions[k] for k in ACTION_OUTCOMES}}
        return {**self.counts(), "report": report, "actions": actions, "resumed": resumed}


def _csv_line(cells: Iterable[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def header_text(fmt: str) -> str:
    """What a fresh report file starts with: the CSV header, nothing for JSON Lines."""
    return _csv_line(REPORT_COLUMNS) if fmt == "csv" else ""


def row_text(row: dict[str, Any], fmt: str) -> str:
    if fmt == "jsonl":
        return json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
    reference = json.dumps(row["reference"], separators=(",", ":"), sort_keys=True)
    return _csv_line(reference if c == "reference" else row[c] for c in REPORT_COLUMNS)


def iter_rows(fh: Iterable[str], fmt: str, *, source: str) -> Iterator[dict[str, Any]]:
    """Rows as dicts (``row`` as int, ``reference`` as a dict), checking every column is present."""
    if fmt == "jsonl":
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise ReportFormatError(f"{source}: line {line_no} is not valid JSON") from None
            except RecursionError:
                raise ReportFormatError(f"{source}: line {line_no} is not valid JSON (nested too deeply)") from None
            yield _checked(row, source, line_no)
        return
    reader = csv.DictReader(fh)
    missing = [c for c in REPORT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ReportFormatError(f"{source}: not a reconciliation report; missing column(s) {', '.join(missing)}")
    for row in reader:
        try:
            row["reference"] = json.loads(row["reference"]) if row.get("reference") else {}
        except ValueError:
            raise ReportFormatError(f"{source}: line {reader.line_num}: 'reference' is not JSON") from None
        yield _checked(row, source, reader.line_num)


def _checked(row: Any, source: str, line_no: int) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ReportFormatError(f"{source}: line {line_no} is not a JSON object")
    missing = [c for c in REPORT_COLUMNS if c not in row]
    if missing:
        raise ReportFormatError(
            f"{source}: line {line_no} is not a reconciliation report row; missing {', '.join(missing)}"
        )
    try:
        row["row"] = int(row["row"])
    except (TypeError, ValueError):
        raise ReportFormatError(f"{source}: line {line_no}: 'row' is not a number") from None
    return row


def read_report(location: Location, fmt: str, counter: DigestCounter | None = None) -> Iterator[dict[str, Any]]:
    """The rows of a report file; ``counter`` is fed its bytes (to compare with the report's manifest)."""
    with open_binary(location) as fh:
        yield from iter_rows(_utf8_lines(fh, str(location), counter), fmt, source=str(location))


def has_rows(location: Location, fmt: str) -> bool:
    """Whether a report exists at ``location`` with at least one row (a CSV header alone is no row)."""
    try:
        with open_binary(location) as fh:
            lines = (line for line in fh if line.strip())
            if fmt == "csv":
                next(lines, None)
            return next(lines, None) is not None
    except FileNotFoundError:
        return False


def _utf8_lines(fh: Iterable[bytes], source: str, counter: DigestCounter | None = None) -> Iterator[str]:
    for line_no, text, problem in decoded_lines(fh, counter.update if counter is not None else None):
        if problem is not None:
            raise ReportFormatError(f"{source}: line {line_no} is not valid UTF-8 ({problem})")
        yield text
