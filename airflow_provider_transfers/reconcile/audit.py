"""Audit rules over a reconciliation report.

Each limit is inclusive: a rule breaks when the actual value is *greater* than its limit.

* ``max_failed_ratio``: rows whose ``actual_status`` is ``failed``, divided by all rows of the report
  (rows that could not be checked, ``not_found`` and ``error``, count in the denominator only; they have
  their own rules). An empty report has ratio 0.
* ``max_drifted``, ``max_stale``, ``max_not_found``, ``max_errors``: number of rows of class
  ``drifted``, ``stale``, ``not_found``, ``error``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_transfers.exceptions import TransferValidationError
from airflow_provider_transfers.reconcile.classify import RowClass
from airflow_provider_transfers.reconcile.report import Tally
from airflow_provider_transfers.validation import Fraction, NonNegativeInt, validate

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


@dataclass
class AuditResult:
    report: str
    tally: Tally
    failed: int
    rules: list[RuleResult]

    @property
    def failed_ratio(self) -> float:
        return self.failed / self.tally.rows if self.tally.rows else 0.0

    @property
    def broken(self) -> list[RuleResult]:
        return [r for r in self.rules if r.broken]

    def summary(self) -> dict[str, Any]:
        return {
            "report": self.report,
            **self.tally.counts(),
            "failed": self.failed,
            "failed_ratio": round(self.failed_ratio, 6),
            "rules": [r.to_dict() for r in self.rules],
        }


def check_limits(limits: Mapping[str, float | str | None]) -> dict[str, float]:
    """The rules that are set, each checked: a whole number >= 0 (a finite ratio within [0, 1]).

    Numeric text (``"10"``, what a template renders) is accepted; NaN, infinity and booleans are not.
    """
    unknown = set(limits) - set(RULES)
    if unknown:
        raise TransferValidationError(", ".join(sorted(unknown)), f"an audit rule among {', '.join(RULES)}")
    checked: dict[str, float] = {}
    for name, value in limits.items():
        if value is None:
            continue
        checked[name] = validate(Fraction if name == "max_failed_ratio" else NonNegativeInt, value, name)
    return checked


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
            hit = is_failed if name == "max_failed_ratio" else RULE_CLASSES[name] == cls
            if hit and len(result.examples) < EXAMPLES_PER_RULE:
                result.examples.append(_example(row))
    audit = AuditResult(report, tally, failed, list(results.values()))
    for result in audit.rules:
        if result.rule == "max_failed_ratio":
            result.actual = round(audit.failed_ratio, 6)
        else:
            result.actual = tally.classes[RULE_CLASSES[result.rule]]
    return audit


def format_table(audit: AuditResult) -> str:
    """A plain-text table of the broken rules, for the task log and the failure message."""
    header = ("rule", "limit", "actual", "examples")
    lines = [(r.rule, _num(r.limit), _num(r.actual), "; ".join(r.examples) or "-") for r in audit.broken]
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(3)]

    def fmt(cells: tuple[str, str, str, str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:3], widths, strict=True)) + "  " + cells[3]

    counts = ", ".join(f"{k} {v}" for k, v in audit.tally.counts().items())
    title = (
        f"Audit of {audit.report} failed: {len(audit.broken)} of {len(audit.rules)} rule(s) broken "
        f"({counts}; failed {audit.failed})"
    )
    return "\n".join([title, fmt(header), *(fmt(line) for line in lines)])


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
