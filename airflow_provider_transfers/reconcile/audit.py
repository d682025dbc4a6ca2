"""Auditing a reconciliation report in one streaming pass: its integrity (rows ``1..N`` once each, the bytes
committed), then the user's limits, each broken when the actual value is greater (docs: "Audit").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_transfers.exceptions import TransferValidationError
from airflow_provider_transfers.reconcile.classify import RowClass
from airflow_provider_transfers.reconcile.lock import Holder
from airflow_provider_transfers.reconcile.manifest import (
    DigestCounter,
    manifest_location,
    read_manifest,
)
from airflow_provider_transfers.reconcile.report import ReportFormatError, Tally, read_report
from airflow_provider_transfers.reconcile.rowset import RowSet
from airflow_provider_transfers.reconcile.storage import Location
from airflow_provider_transfers.validation import Fraction, NonNegativeInt, validate

log = logging.getLogger(__name__)

EXAMPLES_PER_RULE = 3

RULE_CLASSES: dict[str, str] = {
    "max_drifted": RowClass.DRIFTED.value,
    "max_stale": RowClass.STALE.value,
    "max_not_found": RowClass.NOT_FOUND.value,
    "max_errors": RowClass.ERROR.value,
}
RULES = ("max_failed_ratio", *RULE_CLASSES)


@dataclass
class RuleResult:
    rule: str
    limit: float
    actual: float = 0
    examples: list[str] = field(default_factory=list)

    @property
    def broken(self) -> bool:
        return self.actual > self.limit

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "limit": self.limit, "actual": self.actual, "broken": self.broken}

    def count(self, example: str, n: int = 1) -> None:
        self.actual += n
        if len(self.examples) < EXAMPLES_PER_RULE:
            self.examples.append(example)


@dataclass
class AuditResult:
    report: str
    tally: Tally
    failed: int
    rules: list[RuleResult]
    integrity: list[RuleResult] = field(default_factory=list)
    expected_total: int | None = None
    total_from: str | None = None
    """Where ``expected_total`` came from: ``expected_total`` (the argument), ``manifest``, or ``None``."""

    @property
    def failed_ratio(self) -> float:
        return self.failed / self.tally.rows if self.tally.rows else 0.0

    @property
    def broken(self) -> list[RuleResult]:
        return [r for r in self.rules if r.broken]

    @property
    def not_intact(self) -> list[RuleResult]:
        return [r for r in self.integrity if r.broken]

    def summary(self) -> dict[str, Any]:
        return {
            "report": self.report,
            **self.tally.counts(),
            "failed": self.failed,
            "failed_ratio": round(self.failed_ratio, 6),
            "rules": [r.to_dict() for r in self.rules],
            "integrity": {
                "expected_total": self.expected_total,
                "total_from": self.total_from,
                "checks": [r.to_dict() for r in self.integrity],
            },
        }


def check_limits(limits: Mapping[str, float | str | None]) -> dict[str, float]:
    """The rules that are set, each checked: a whole number >= 0 (a finite ratio within [0, 1]); numeric text too."""
    unknown = set(limits) - set(RULES)
    if unknown:
        raise TransferValidationError(", ".join(sorted(unknown)), f"an audit rule among {', '.join(RULES)}")
    return {
        name: validate(Fraction if name == "max_failed_ratio" else NonNegativeInt, value, name)
        for name, value in limits.items()
        if value is not None
    }


def _example(row: Mapping[str, Any]) -> str:
    status = f"recorded {row.get('recorded_status') or '?'}, actual {row.get('actual_status') or '?'}"
    return f"row {row['row']} {row.get('transfer_id') or '(no id)'} ({status})"


def audit_rows(rows: Iterable[Mapping[str, Any]], limits: Mapping[str, float], report: str) -> AuditResult:
    """One pass over the rows; keeps counts and a few examples per rule, never the rows."""
    results = {name: RuleResult(name, limit) for name, limit in limits.items()}
    tally = Tally()
    failed = 0
    for row in rows:
        cls = str(row["class"])
        tally.add(cls, str(row.get("action") or ""))
        is_failed = row.get("actual_status") == "failed"
        failed += is_failed
        for name, result in results.items():
            if is_failed if name == "max_failed_ratio" else RULE_CLASSES[name] == cls:
                result.count(_example(row))
    audit = AuditResult(report, tally, failed, list(results.values()))
    if "max_failed_ratio" in results:  # counted the failed rows: the rule is on their ratio
        results["max_failed_ratio"].actual = round(audit.failed_ratio, 6)
    return audit


def format_table(audit: AuditResult) -> str:
    """A plain-text table of the broken integrity checks and rules, for the task log and the failure message."""
    header = ("rule", "limit", "actual", "examples")
    broken = audit.not_intact + audit.broken
    lines = [(r.rule, _num(r.limit), _num(r.actual), "; ".join(r.examples) or "-") for r in broken]
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(3)]

    def fmt(cells: tuple[str, str, str, str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:3], widths, strict=True)) + "  " + cells[3]

    counts = ", ".join(f"{k} {v}" for k, v in audit.tally.counts().items())
    intact = ""
    if audit.not_intact:
        names = ", ".join(r.rule for r in audit.not_intact)
        total = f"rows 1..{audit.expected_total}" if audit.expected_total is not None else "rows 1..N"
        source = f" ({audit.total_from})" if audit.total_from else ""
        intact = f"the report is not intact ({names}; expected {total}{source}, each once); "
    title = (
        f"Audit of {audit.report} failed: {intact}{len(audit.broken)} of {len(audit.rules)} rule(s) broken "
        f"({counts}; failed {audit.failed})"
    )
    return "\n".join([title, fmt(header), *(fmt(line) for line in lines)])


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------------------------- integrity


class RowIntegrity:
    """Rows numbered ``1..total`` exactly once, checked while streaming (one bit a row, a few examples)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.rows = RowSet(total)
        self.highest = 0
        self.read = 0
        self.duplicates = RuleResult("duplicate_rows", 0)
        self.unexpected = RuleResult("unexpected_rows", 0)
        self.unreadable = RuleResult("unreadable_rows", 0)

    def add(self, row: int) -> None:
        self.read += 1
        if not self.rows.in_range(row):
            self.unexpected.count(f"row {row} (row {self.read} of the file)")
        elif not self.rows.add(row):
            self.duplicates.count(f"row {row} again (row {self.read} of the file)")
        else:
            self.highest = max(self.highest, row)

    def results(self) -> list[RuleResult]:
        missing = RuleResult("missing_rows", 0)
        for first, last in self.rows.missing(self.total if self.total is not None else self.highest):
            missing.count(f"row {first}" if first == last else f"rows {first}-{last}", last - first + 1)
        return [self.duplicates, missing, self.unexpected, self.unreadable]


def audit_report(
    location: Location, fmt: str, limits: Mapping[str, float], expected_total: int | None = None
) -> AuditResult:
    """Audit the report at ``location``: its integrity against its manifest (and ``expected_total``), its limits."""
    manifest = read_manifest(location)
    entry = manifest.expected() if manifest is not None else None
    for _ in range(2):  # a report read mid-commit matches the pending entry: judged again against that
        recorded = entry.rows if entry is not None else None
        total = expected_total if expected_total is not None else recorded
        integrity = RowIntegrity(total)
        counter = DigestCounter()
        audit = audit_rows(_watched(read_report(location, fmt, counter), integrity), limits, str(location))
        audit.integrity = integrity.results()
        audit.expected_total = total
        audit.total_from = (
            "expected_total" if expected_total is not None else "manifest" if recorded is not None else None
        )
        matched = None
        if manifest is not None:
            matched = manifest.matching(counter.result(integrity.read))
            changed = RuleResult("report_changed", 0)
            if matched is None and not integrity.unreadable.actual:
                run = Holder.from_dict(manifest.run)
                by = f" by {run.describe()}" if run else ""
                changed.count(f"its bytes are not those committed{by} ({manifest_location(location).name})")
            audit.integrity.append(changed)
        if expected_total is not None and recorded is not None and expected_total != recorded:
            mismatch = RuleResult("total_recorded", 0)
            mismatch.count(f"expected_total is {expected_total}, the manifest records {recorded}")
            audit.integrity.append(mismatch)
        if matched is None or matched == entry:
            break
        entry = matched
    if manifest is None and expected_total is None:
        log.warning(
            "%s has no manifest (%s) and no expected_total was given: rows are checked for numbering only, "
            "not against the total the run recorded",
            location,
            manifest_location(location).name,
        )
    return audit


def _watched(rows: Iterator[dict[str, Any]], integrity: RowIntegrity) -> Iterator[dict[str, Any]]:
    """The rows, each numbered into ``integrity``; a report broken off mid-way ends there (as unreadable)."""
    try:
        for row in rows:
            integrity.add(row["row"])
            yield row
    except ReportFormatError as exc:
        if not integrity.read:
            raise  # not a report at all: say so
        integrity.unreadable.count(str(exc))
