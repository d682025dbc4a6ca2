"""Batch reconciliation and audit of transfers: the machinery behind ``operators.reconcile``.

The module map and the reasons behind it: docs, "Reconciliation internals".
"""

from __future__ import annotations

from airflow_provider_transfers.reconcile.classify import REPORT_COLUMNS, RowClass
from airflow_provider_transfers.reconcile.job import ReconcileOptions, reconcile
from airflow_provider_transfers.reconcile.records import RecordReader
from airflow_provider_transfers.reconcile.validate import InvalidRecordsError

__all__ = ["REPORT_COLUMNS", "InvalidRecordsError", "ReconcileOptions", "RecordReader", "RowClass", "reconcile"]
