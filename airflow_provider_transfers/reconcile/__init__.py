"""Batch reconciliation and audit of transfers: the machinery behind ``operators.reconcile``.

Modules: ``records`` (reading input lazily), ``validate`` (the record schema), ``classify`` (a row
from a check), ``engine`` (concurrent checks, ordered output), ``report`` (row formats), ``checkpoint``
(atomic, resumable files), ``actions`` (what to do about stale transfers), ``job`` (one run), ``audit``
(rules over a report).
"""

from __future__ import annotations

from airflow_provider_transfers.reconcile.classify import REPORT_COLUMNS, RowClass
from airflow_provider_transfers.reconcile.job import ReconcileOptions, reconcile
from airflow_provider_transfers.reconcile.records import RecordReader
from airflow_provider_transfers.reconcile.validate import InvalidRecordsError

__all__ = ["REPORT_COLUMNS", "InvalidRecordsError", "ReconcileOptions", "RecordReader", "RowClass", "reconcile"]
