"""Operators that reconcile recorded transfers with the platforms, merge shards and audit the report.

The work happens in ``airflow_provider_transfers.reconcile``; arguments and behaviour: docs/reconciliation.md.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import timedelta
from types import NoneType
from typing import TYPE_CHECKING, Annotated, Any

from airflow.sdk import Asset, BaseOperator, Context, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException
from pydantic import BeforeValidator

from airflow_provider_transfers import lineage
from airflow_provider_transfers.hooks.base import TransferHook, get_transfer_hook
from airflow_provider_transfers.hooks.twilio_flex import normalize_body
from airflow_provider_transfers.http.transport import ShardedAsyncTransport
from airflow_provider_transfers.reconcile.actions import StaleAction
from airflow_provider_transfers.reconcile.audit import AuditResult, audit_report, check_limits, format_table
from airflow_provider_transfers.reconcile.durations import parse_duration
from airflow_provider_transfers.reconcile.job import OnInvalid, ReconcileOptions, ReconciliationStoppedError, reconcile
from airflow_provider_transfers.reconcile.lock import Holder
from airflow_provider_transfers.reconcile.records import RecordReader, RecordsFileError, RecordsInput
from airflow_provider_transfers.reconcile.report import ReportFormatError
from airflow_provider_transfers.reconcile.shard import ShardReader, check_shard, merge_reports, shard_output
from airflow_provider_transfers.reconcile.storage import FORMAT_ALIASES, Location, asset_uri, detect_format, to_location
from airflow_provider_transfers.reconcile.validate import InvalidRecordsError
from airflow_provider_transfers.validation import (
    ConnId,
    NonNegativeInt,
    NonNegativeNumber,
    PositiveInt,
    StrictBool,
    check_if_literal,
    contains_template,
    form_error,
    validate,
    validator,
)

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

PathInput = str | os.PathLike[str] | ObjectStoragePath
Duration = timedelta | float | str | None


def _format_name(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() in FORMAT_ALIASES):
        return value
    raise form_error("'jsonl' or 'csv', or None to tell from the file's extension")


def _on_invalid(value: Any) -> Any:
    if value in ("fail", "report"):
        return value
    raise form_error("'fail' or 'report'")


def _kinds(expected: str, *types: Any, text: bool = True) -> BeforeValidator:
    """Passes instances of ``types`` (and non-blank text, with ``text``); refuses the rest as ``expected``."""

    def check(value: Any) -> Any:
        if isinstance(value, types) or (text and isinstance(value, str) and value.strip()):
            return value
        raise form_error(expected)

    return BeforeValidator(check)


def _expected_total(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


FormatName = Annotated[str | None, BeforeValidator(_format_name)]
ExpectedTotal = Annotated[NonNegativeInt | None, BeforeValidator(_expected_total)]
OnInvalidArg = Annotated[str, BeforeValidator(_on_invalid)]
_FILE = (ObjectStoragePath, os.PathLike)
FileLocation = Annotated[Any, _kinds("a path or URI of a file (text, os.PathLike or ObjectStoragePath)", *_FILE)]
RecordsArg = Annotated[
    Any, _kinds("a list of records, JSON text of one, or the path/URI of a .jsonl/.csv file", list, tuple, *_FILE)
]
AssetArg = Annotated[Any, _kinds("an Asset, an Asset URI or name, or None", NoneType, Asset)]
PolicyOverrides = Annotated[
    dict[str, Any] | None,
    _kinds("a dict of HTTP policy fields (timeout, max_attempts, ...) or None", NoneType, dict, text=False),
]
OptionalDir = Annotated[Any, _kinds("a local directory path, or None", NoneType, os.PathLike)]


def report_asset_for(output_path: PathInput) -> Asset:
    """The Asset a report at ``output_path`` is published as (``file:///abs/path`` for local files)."""
    return Asset(uri=asset_uri(to_location(output_path)))


def _report_outlet(op: BaseOperator, given: Asset | str | None, output_path: PathInput) -> Asset | None:
    """The report's Asset (``given``, else derived from a literal ``output_path``), added to ``op``'s outlets."""
    if isinstance(given, str):
        given = Asset(uri=given) if "://" in given else Asset(name=given)
    elif given is None and not (isinstance(output_path, str) and contains_template(output_path)):
        given = report_asset_for(output_path)
    if given is not None and given not in op.outlets:
        op.outlets = [*op.outlets, given]
    return given


class TransferReconciliationOperator(BaseOperator):
    """Check every recorded transfer against its platform (the connection's type) and write a report with
    one row per record, atomically and resumably; publish it as an Asset. Arguments: docs/reconciliation.md.
    """

    template_fields: Sequence[str] = (
        "conn_id",
        "records",
        "output_path",
        "records_format",
        "report_format",
        "stale_after",
        "stale_action_body",
    )
    template_fields_renderers = {"records": "json", "stale_action_body": "json"}
    ui_color = "#c9e4ff"
    summary: dict[str, Any] | None = None  # this run's result, for OpenLineage's COMPLETE event

    def __init__(
        self,
        *,
        conn_id: str,
        records: RecordsInput,
        output_path: PathInput,
        records_format: str | None = None,
        report_format: str | None = None,
        stale_after: timedelta | float | str | None = timedelta(hours=1),
        max_concurrency: int = 50,
        rate_limit: float | None = None,
        rate_burst: int | None = None,
        http_policy: dict[str, Any] | None = None,
        on_invalid: OnInvalid = "fail",
        act_on_stale: bool = False,
        stale_action_body: dict[str, Any] | str | None = None,
        dry_run: bool = False,
        report_asset: Asset | str | None = None,
        checkpoint_dir: str | None = None,
        shard: int = 0,
        shards: int = 1,
        lock_timeout: Duration = None,
        allow_empty: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.shard, self.shards = check_shard(shard, shards)  # ShardError, a ValueError
        self.conn_id = conn_id
        self.records = records
        self.output_path = output_path
        self.records_format = records_format
        self.report_format = report_format
        self.stale_after = stale_after
        # Not templated: checked (and numeric text converted) now, each error naming its argument.
        self.max_concurrency: int = validate(PositiveInt, max_concurrency, "max_concurrency")
        self.rate_limit: float | None = validate(NonNegativeNumber | None, rate_limit, "rate_limit")
        self.rate_burst: int | None = validate(PositiveInt | None, rate_burst, "rate_burst")
        self.http_policy: dict[str, Any] = dict(validate(PolicyOverrides, http_policy, "http_policy") or {})
        self.on_invalid: OnInvalid = validate(OnInvalidArg, on_invalid, "on_invalid")
        self.act_on_stale: bool = validate(StrictBool, act_on_stale, "act_on_stale")
        self.stale_action_body = stale_action_body
        self.dry_run_actions: bool = validate(StrictBool, dry_run, "dry_run")  # ``dry_run`` is a BaseOperator method
        self.checkpoint_dir = validate(OptionalDir, checkpoint_dir, "checkpoint_dir")
        self.lock_timeout = parse_duration(lock_timeout, "lock_timeout")
        self.allow_empty: bool = validate(StrictBool, allow_empty, "allow_empty")
        self._check_rendered(parse_time=True)
        report_asset = validate(AssetArg, report_asset, "report_asset")
        self.report_asset = (
            _report_outlet(self, report_asset, output_path) if self.shards == 1 or report_asset else None
        )

    def _check_rendered(self, *, parse_time: bool = False) -> None:
        """The templated arguments: at parse time those that are literal; after rendering, all of them."""
        checks: list[tuple[Any, Any]] = [
            (self.conn_id, validator(ConnId, "conn_id")),
            (self.records, validator(RecordsArg, "records")),
            (self.output_path, validator(FileLocation, "output_path")),
            (self.records_format, validator(FormatName, "records_format")),
            (self.report_format, validator(FormatName, "report_format")),
            (self.stale_after, lambda v: parse_duration(v, "stale_after")),
        ]
        if self.act_on_stale:
            checks.append((self.stale_action_body, lambda v: normalize_body(v, "stale_action_body")))
        for value, check in checks:
            if parse_time and not isinstance(value, timedelta):
                check_if_literal(value, check)
            else:
                check(value)

    def _policy(self) -> dict[str, Any]:
        rates = {"rate_limit": self.rate_limit, "rate_burst": self.rate_burst}
        policy = {**self.http_policy, **{key: value for key, value in rates.items() if value is not None}}
        policy.setdefault("max_connections", validate(PositiveInt, self.max_concurrency, "max_concurrency"))
        return policy

    def options(self) -> ReconcileOptions:
        return ReconcileOptions(
            stale_after=parse_duration(self.stale_after),
            max_concurrency=self.max_concurrency,
            on_invalid=self.on_invalid,
            report_format=self.report_format,
            stale_action=StaleAction.build(self.act_on_stale, self.dry_run_actions, self.stale_action_body),
            checkpoint_dir=self.checkpoint_dir,
            lock_timeout=self.lock_timeout,
            allow_empty=self.allow_empty,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            self._check_rendered()
            reader: RecordReader | ShardReader = RecordReader(self.records, self.records_format)
            output = to_location(self.output_path)
            options = self.options()
            detect_format(output, options.report_format, what="report")
            if self.shards > 1:
                reader = ShardReader(reader, self.shard, self.shards)
                output = shard_output(output, self.shard, self.shards)
            policy = self._policy()
        except ValueError as exc:  # bad arguments: a retry cannot fix them
            raise AirflowFailException(str(exc)) from None
        connections = validate(PositiveInt, policy["max_connections"], "http_policy.max_connections")
        hook = get_transfer_hook(self.conn_id, policy=policy, async_transport=ShardedAsyncTransport(connections))
        holder = Holder.current(context.get("ti"))
        try:
            with hook:
                summary = asyncio.run(_run(hook, reader, output, options, holder))
        except (InvalidRecordsError, RecordsFileError, ReconciliationStoppedError) as exc:
            raise AirflowFailException(str(exc)) from None
        if self.shards > 1:
            summary.update(shard=self.shard, shards=self.shards)
        if self.report_asset is not None:
            extra = {k: v for k, v in summary.items() if k != "actions"}
            context["outlet_events"][self.report_asset].extra = extra
        self.summary = summary
        return summary

    def _lineage(self, *, failed: bool = False) -> OperatorLineage:
        return lineage.reconciliation(
            records=self.records,
            records_format=self.records_format,
            output_path=self.output_path,
            shard=self.shard,
            shards=self.shards,
            summary=self.summary,
            failed=failed,
        )

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        return self._lineage()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        return self._lineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        return self._lineage(failed=True)


async def _run(
    hook: TransferHook, reader: RecordReader | ShardReader, output: Location, options: ReconcileOptions, holder: Holder
) -> dict[str, Any]:
    async with hook:
        return await reconcile(hook, reader, output, options, holder)


class TransferReportMergeOperator(BaseOperator):
    """Merge the reports of a sharded reconciliation (``shard_results``: the mapped tasks' summaries) into
    the report and summary a single run would produce, atomically.
    """

    template_fields: Sequence[str] = ("shard_results", "output_path", "report_format")
    ui_color = "#c9e4ff"
    merged: list[Any] | None = None  # the shards' summaries this run read, for OpenLineage's events
    summary: dict[str, Any] | None = None  # this run's result, for OpenLineage's COMPLETE event

    def __init__(
        self,
        *,
        shard_results: Any,
        output_path: PathInput,
        report_format: str | None = None,
        report_asset: Asset | str | None = None,
        lock_timeout: Duration = None,
        allow_empty: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.shard_results = shard_results
        self.output_path = output_path
        self.report_format = report_format
        self.lock_timeout = parse_duration(lock_timeout, "lock_timeout")
        self.allow_empty: bool = validate(StrictBool, allow_empty, "allow_empty")
        self.report_asset = _report_outlet(self, report_asset, output_path)

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            results = self.shard_results  # a list, or Airflow's lazy sequence of the mapped task's XComs
            shard_results = [results[i] for i in range(len(results))]  # (iterating it logs a 404 at the end)
            self.merged = shard_results
            summary = merge_reports(
                shard_results,
                to_location(self.output_path),
                self.report_format,
                holder=Holder.current(context.get("ti")),
                lock_timeout=self.lock_timeout,
                allow_empty=self.allow_empty,
            )
        except (ReportFormatError, ValueError) as exc:
            raise AirflowFailException(str(exc)) from None
        self.log.info("Merged %s", summary)
        if self.report_asset is not None:
            context["outlet_events"][self.report_asset].extra = {k: v for k, v in summary.items() if k != "actions"}
        self.summary = summary
        return summary

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        return lineage.merge(output_path=self.output_path)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        return lineage.merge(output_path=self.output_path, shard_results=self.merged, summary=self.summary)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        return lineage.merge(output_path=self.output_path, shard_results=self.merged, failed=True)


class TransferAuditOperator(BaseOperator):
    """Check a reconciliation report's integrity and limits (inclusive; ``None`` skips a rule); fail without
    retries with a table of what broke, else return the summary.
    """

    template_fields: Sequence[str] = ("report_path", "report_format", "expected_total")
    ui_color = "#ffe5b4"
    audit: AuditResult | None = None  # this run's result, for OpenLineage's COMPLETE and FAIL events

    def __init__(
        self,
        *,
        report_path: PathInput,
        report_format: str | None = None,
        max_failed_ratio: float | None = None,
        max_drifted: int | None = None,
        max_stale: int | None = None,
        max_errors: int | None = None,
        max_not_found: int | None = None,
        expected_total: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.report_path = report_path
        self.report_format = report_format
        self.expected_total = expected_total
        check_if_literal(report_path, validator(FileLocation, "report_path"))
        check_if_literal(report_format, validator(FormatName, "report_format"))
        check_if_literal(expected_total, validator(ExpectedTotal, "expected_total"))
        self.limits = check_limits(
            {
                "max_failed_ratio": max_failed_ratio,
                "max_drifted": max_drifted,
                "max_stale": max_stale,
                "max_errors": max_errors,
                "max_not_found": max_not_found,
            }
        )

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            location = to_location(validate(FileLocation, self.report_path, "report_path"))
            validate(FormatName, self.report_format, "report_format")
            fmt = detect_format(location, self.report_format, what="report")
            expected = validate(ExpectedTotal, self.expected_total, "expected_total")
            audit = audit_report(location, fmt, self.limits, expected)
        except (ReportFormatError, ValueError) as exc:
            raise AirflowFailException(str(exc)) from None
        self.audit = audit
        if audit.broken or audit.not_intact:
            table = format_table(audit)
            self.log.error("%s", table)
            raise AirflowFailException(table)
        self.log.info("Audit of %s passed: %s", location, audit.summary())
        return audit.summary()

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        return lineage.audit(report_path=self.report_path)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        return lineage.audit(report_path=self.report_path, result=self.audit)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        return lineage.audit(report_path=self.report_path, result=self.audit)
