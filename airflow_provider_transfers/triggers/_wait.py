"""What the sensor, the trigger and the waiting operators share: inputs, bookkeeping, events, results.

Nothing here touches the network. The flow is the same in every mode:

1. ``parse_transfers`` / ``parse_statuses`` check the arguments (at DAG parse time when literal);
2. a ``WaitState`` records each poll's results: terminal checks are kept and never re-polled,
   transient errors are counted per transfer, anything else is fatal;
3. ``WaitState.outcome()`` says whether the wait is over, and ``make_event`` turns that into the
   trigger event payload (the sensor's poke path builds the same payload);
4. ``result_from_event`` turns a payload into the XCom value or the right Airflow exception.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_transfers.exceptions import (
    TransferAuthError,
    TransferConfigError,
    TransferNotFoundError,
    TransferProviderError,
    TransferValidationError,
)
from airflow_provider_transfers.hooks.base import TransferHook
from airflow_provider_transfers.models import TransferCheck, TransferStatus

EventStatus = Literal["success", "failure", "timeout", "error"]
Verdict = Literal["success", "failure", "pending"]

DEFAULT_SUCCESS_STATUSES: tuple[str, ...] = (TransferStatus.COMPLETED.value,)
DEFAULT_FAILURE_STATUSES: tuple[str, ...] = (TransferStatus.FAILED.value,)
DEFAULT_MAX_CONSECUTIVE_ERRORS = 5
_ALLOWED = [s.value for s in TransferStatus]


# --------------------------------------------------------------------------------------------- inputs


def parse_transfers(value: Any, field: str = "transfer") -> tuple[list[dict[str, Any]], bool]:
    """``(transfers, single)`` from one transfer's JSON, a list of them, or text holding either.

    Text is JSON first; failing that, a Python literal, because ``{{ ti.xcom_pull(...) }}`` renders a
    dict with ``str()`` (single quotes, ``None``). ``single`` is true when one mapping was given, so the
    result can be returned in the same shape. The transfers come back as JSON-safe plain dicts.
    """
    if isinstance(value, str | bytes):
        value = _parse_text(value.decode() if isinstance(value, bytes) else value, field)
    if isinstance(value, Mapping):
        return [_json_safe(value, field)], True
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if not value:
            raise TransferValidationError(field, "at least one transfer", "an empty list")
        items = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise TransferValidationError(f"{field}[{i}]", "a transfer's JSON object", type(item).__name__)
            items.append(_json_safe(item, f"{field}[{i}]"))
        return items, False
    raise TransferValidationError(
        field, "a transfer's JSON object, a list of them, or JSON text of either", type(value).__name__
    )


def _parse_text(text: str, field: str) -> Any:
    text = text.strip()
    if not text:
        raise TransferValidationError(field, "a transfer's JSON (dict, list or JSON text)", "empty text")
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise TransferValidationError(
            field, "JSON text of a transfer or a list of transfers", f"unparseable text {text[:80]!r}"
        ) from None


def _json_safe(item: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A plain-JSON copy, so the transfers can travel in a trigger's kwargs (dates become ISO text)."""
    try:
        return json.loads(json.dumps(dict(item), default=_isoformat))
    except (TypeError, ValueError) as exc:
        raise TransferValidationError(field, "a JSON-serialisable object", str(exc)) from None


def _isoformat(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def parse_statuses(success: Any, failure: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Check ``success_statuses``/``failure_statuses``: known values, success non-empty, no overlap."""
    good = _status_tuple(success, "success_statuses")
    bad = _status_tuple(failure, "failure_statuses")
    if not good:
        raise TransferValidationError("success_statuses", f"at least one of {_ALLOWED}", list(good))
    overlap = sorted(set(good) & set(bad))
    if overlap:
        raise TransferValidationError(
            "success_statuses/failure_statuses", "two disjoint sets", f"{overlap} in both", show_value=True
        )
    return good, bad


def _status_tuple(value: Any, field: str) -> tuple[str, ...]:
    items: Iterable[Any] = [value] if isinstance(value, str) else (value or ())
    out: list[str] = []
    for item in items:
        text = item.value if isinstance(item, TransferStatus) else str(item).strip().lower()
        if text not in _ALLOWED:
            raise TransferValidationError(field, f"statuses among {_ALLOWED}", item)
        if text not in out:
            out.append(text)
    return tuple(out)


# --------------------------------------------------------------------------------------------- errors


def is_transient(exc: BaseException) -> bool:
    """Worth another poll: 429, 5xx, malformed bodies, timeouts, resets (after the client's own retries)."""
    return isinstance(exc, TransferProviderError) and bool(getattr(exc, "retryable", False))


def is_fatal(exc: BaseException) -> bool:
    """Errors that no retry of the task can fix: fail at once, without task retries."""
    return isinstance(exc, TransferNotFoundError | TransferValidationError | TransferConfigError | TransferAuthError)


def describe_error(transfer_id: str, exc: BaseException) -> str:
    if isinstance(exc, TransferNotFoundError):
        return (
            f"transfer {transfer_id} not found ({exc}); it may have expired "
            "(VoIPbin keeps transfers 24 h) or the connection points at another account"
        )
    return f"transfer {transfer_id}: {type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class StatusRule:
    success: frozenset[str]
    failure: frozenset[str]

    @classmethod
    def of(cls, success: Iterable[str], failure: Iterable[str]) -> StatusRule:
        return cls(frozenset(success), frozenset(failure))

    def verdict(self, status: TransferStatus | str) -> Verdict:
        """A terminal status outside ``success`` can never turn into success: it counts as failure."""
        value = TransferStatus(status)
        if value.value in self.success:
            return "success"
        if value.value in self.failure or value.is_terminal:
            return "failure"
        return "pending"


@dataclass
class Outcome:
    status: EventStatus | None
    """``None`` while the wait goes on."""
    message: str
    fatal: bool = False


@dataclass
class WaitState:
    """Everything a wait has learnt so far, in JSON-safe pieces a trigger can serialise.

    ``finished`` holds the checks of transfers in a terminal status (they can never change, so they
    are not polled again); ``errors`` counts consecutive transient errors per transfer.
    """

    rule: StatusRule
    max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    latest: dict[str, TransferCheck] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    """A non-transient error: the wait ends at once."""
    error_is_final: bool = False
    """True when no retry of the task can help (not found, invalid input, bad connection)."""

    def __post_init__(self) -> None:
        for tid, raw in self.finished.items():
            self.latest[tid] = TransferCheck.model_validate(raw)

    def pending(self, ids: Iterable[str]) -> list[str]:
        """Ids still worth polling, each once, in input order."""
        return list(dict.fromkeys(tid for tid in ids if tid not in self.finished))

    def record(self, transfer_id: str, result: TransferCheck | BaseException) -> None:
        if isinstance(result, TransferCheck):
            self.latest[transfer_id] = result
            self.errors.pop(transfer_id, None)
            self.last_error.pop(transfer_id, None)
            if result.status.is_terminal:
                self.finished[transfer_id] = result.to_xcom()
        elif is_transient(result):
            self.errors[transfer_id] = self.errors.get(transfer_id, 0) + 1
            self.last_error[transfer_id] = describe_error(transfer_id, result)
        elif self.error is None:
            self.error = describe_error(transfer_id, result)
            self.error_is_final = is_fatal(result)

    def verdict(self, transfer_id: str) -> Verdict:
        """Of the latest check; ``pending`` when never checked."""
        check = self.latest.get(transfer_id)
        return "pending" if check is None else self.rule.verdict(check.status)

    def outcome(self, ids: Sequence[str]) -> Outcome:
        unique = list(dict.fromkeys(ids))
        if self.error is not None:
            return Outcome("error", self.error, fatal=self.error_is_final)
        failed = [
            tid for tid in unique if tid in self.latest and self.rule.verdict(self.latest[tid].status) == "failure"
        ]
        if failed:
            reasons = "; ".join(_describe_check(self.latest[tid]) for tid in failed)
            return Outcome("failure", f"{len(failed)} of {len(unique)} transfer(s) failed: {reasons}", fatal=True)
        if all(self.verdict(tid) == "success" for tid in unique):
            return Outcome("success", f"all {len(unique)} transfer(s) reached {self._success_text()}")
        exhausted = [tid for tid in unique if self.errors.get(tid, 0) >= self.max_consecutive_errors]
        if exhausted:
            tid = exhausted[0]
            count, last = self.errors[tid], self.last_error[tid]
            return Outcome("error", f"gave up after {count} consecutive failed status checks; last error: {last}")
        return Outcome(None, "waiting")

    def timeout_message(self, ids: Sequence[str], deadline: str) -> str:
        unique = list(dict.fromkeys(ids))
        waiting = [
            tid
            for tid in unique
            if not (tid in self.latest and self.rule.verdict(self.latest[tid].status) == "success")
        ]
        parts = []
        for tid in waiting:
            if tid in self.last_error:
                parts.append(f"{tid}: last check failed ({self.last_error[tid]})")
            elif tid in self.latest:
                parts.append(_describe_check(self.latest[tid]))
            else:
                parts.append(f"{tid}: never checked")
        return (
            f"Timed out at the deadline {deadline} waiting for {len(waiting)} of {len(unique)} transfer(s) "
            f"to reach {self._success_text()} (last check made at the deadline): {'; '.join(parts)}"
        )

    def _success_text(self) -> str:
        return " or ".join(sorted(self.rule.success))

    def checks(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        return [self.latest[tid].to_xcom() if tid in self.latest else None for tid in ids]


def _describe_check(check: TransferCheck) -> str:
    detail = f" ({check.detail})" if check.detail else ""
    return f"{check.transfer_id}: {check.status.value}{detail}"


# --------------------------------------------------------------------------------------------- events


def make_event(
    status: EventStatus,
    message: str,
    *,
    ids: Sequence[str],
    state: WaitState | None,
    single: bool,
    fatal: bool = False,
    transfers: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The one payload shape: ``status``, ``message``, ``transfer_ids``, ``checks`` (input order)."""
    event: dict[str, Any] = {
        "status": status,
        "message": message,
        "transfer_ids": list(ids),
        "checks": state.checks(ids) if state is not None else [None] * len(ids),
        "single": single,
        "fatal": fatal,
    }
    if transfers is not None:
        event["transfers"] = [dict(t) for t in transfers]
    return event


def result_from_event(event: Mapping[str, Any]) -> Any:
    """The XCom value of a ``success`` event: one check (single transfer) or the list of checks."""
    checks = list(event.get("checks") or [])
    return checks[0] if event.get("single") and checks else checks


# --------------------------------------------------------------------------------------------- sync paths


def check_all(hook: TransferHook, transfers: Sequence[Mapping[str, Any]], ids: Sequence[str], state: WaitState) -> None:
    """One synchronous poll (poke, reschedule, in-process waiting): each pending transfer once.

    Stops at the first non-transient error, which ends the wait anyway.
    """
    by_id = dict(zip(ids, transfers, strict=True))
    for tid in state.pending(ids):
        result: TransferCheck | BaseException
        try:
            result = hook.check_transfer(by_id[tid])
        except Exception as exc:
            result = exc
        state.record(tid, result)
        if state.error is not None:
            break
    state.attempts += 1


def validate_for_any_platform(transfers: Sequence[Mapping[str, Any]], field: str = "transfer") -> None:
    """Parse-time check, before the connection (so the platform) is known: some platform's hook must
    accept every transfer. The platform's own hook checks again at run time, before any request."""
    from airflow_provider_transfers.hooks.registry import HOOK_CLASSES, hook_class_for

    reasons = []
    for conn_type in HOOK_CLASSES:
        try:
            cls = hook_class_for(conn_type)
        except ImportError:
            continue
        try:
            for item in transfers:
                cls.transfer_id(item)
        except TransferValidationError as exc:
            reasons.append(f"{conn_type}: {exc}")
            continue
        return
    if reasons:
        raise TransferValidationError(field, "a transfer JSON object of a supported platform", "; ".join(reasons))
