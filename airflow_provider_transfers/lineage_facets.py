"""The OpenLineage run facets of the reconciliation and the audit (needs the ``openlineage`` extra).

Field names are those of the operators' return values, so XCom, the Asset event and lineage speak alike.
"""

from __future__ import annotations

from typing import Any

import attr
from openlineage.client.facet_v2 import RunFacet

RECONCILIATION_FACET = "transfers_reconciliation"
AUDIT_FACET = "transfers_audit"


@attr.define
class TransferReconciliationRunFacet(RunFacet):
    """The summary counts of one reconciliation (or merge) run: rows by class, resumed rows, stale actions."""

    total: int
    in_sync: int
    drifted: int
    stale: int
    not_found: int
    error: int
    duplicate: int
    resumed: int = 0
    actions: dict[str, Any] = attr.field(factory=dict)
    records_source: str = "file"
    """``file`` (the event's input dataset) or ``list`` (records given as a list, e.g. an XCom: no dataset)."""
    shard: int | None = None
    shards: int | None = None


@attr.define
class TransferAuditRunFacet(RunFacet):
    """The audit of one report: whether every rule held, the counts it saw, and each rule's result."""

    passed: bool
    total: int
    failed: int
    failed_ratio: float
    rules: list[dict[str, Any]] = attr.field(factory=list)
