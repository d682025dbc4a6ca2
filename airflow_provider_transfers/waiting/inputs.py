"""The arguments of a wait, checked once at the edge (DAG parse time when literal, else before any request).

``WaitArgs`` holds what the sensor, the trigger and the waiting operators share: success and failure
statuses, poll interval, timeout or deadline, and the transient-error budget. Numbers use the
constrained types of ``validation.py`` (finite and positive; NaN, infinities and booleans refused;
numeric text such as a rendered ``"10"`` accepted). ``parse_transfers`` reads the transfers' JSON in
any shape an XCom or a template leaves it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import pendulum
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator

from airflow_provider_transfers.exceptions import TransferValidationError
from airflow_provider_transfers.models import TransferCheck, TransferStatus
from airflow_provider_transfers.validation import (
    EPOCH_EXPECTED,
    MAX_DEPTH,
    EpochNumber,
    NonNegativeInt,
    PositiveInt,
    PositiveSeconds,
    form_error,
    json_depth,
    parse_json_text,
    validate,
    validate_model,
)

Verdict = Literal["success", "failure", "pending"]

DEFAULT_SUCCESS_STATUSES: tuple[str, ...] = (TransferStatus.COMPLETED.value,)
DEFAULT_FAILURE_STATUSES: tuple[str, ...] = (TransferStatus.FAILED.value,)
DEFAULT_MAX_CONSECUTIVE_ERRORS = 5
_ALLOWED = [s.value for s in TransferStatus]


def _status_names(value: Any) -> tuple[str, ...]:
    """One status or several; ``TransferStatus`` members or text (any case); duplicates dropped."""
    items: Iterable[Any] = [value] if isinstance(value, str | TransferStatus) else (value or ())
    if not isinstance(items, Iterable):
        raise form_error(f"statuses among {_ALLOWED}")
    out: list[str] = []
    for item in items:
        text = item.value if isinstance(item, TransferStatus) else str(item).strip().lower()
        if text not in _ALLOWED:
            raise form_error(f"statuses among {_ALLOWED}")
        if text not in out:
            out.append(text)
    return tuple(out)


def _epoch(value: Any) -> Any:
    """A deadline as epoch seconds: a number (or numeric text), an aware datetime, or ISO-8601 text."""
    if isinstance(value, datetime):
        return pendulum.instance(value, tz="UTC").timestamp()
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            try:
                parsed = pendulum.parse(value.strip(), tz="UTC")
            except (ValueError, TypeError):
                parsed = None
            if not isinstance(parsed, pendulum.DateTime):
                raise form_error(EPOCH_EXPECTED) from None
            return parsed.timestamp()
    return value


Statuses = Annotated[tuple[str, ...], BeforeValidator(_status_names)]
EpochSeconds = Annotated[EpochNumber, BeforeValidator(_epoch)]
"""A deadline: finite epoch seconds (``True``, NaN and infinities refused) or ISO-8601 text."""


class WaitArgs(BaseModel):
    """What to wait for and how long: shared by the sensor, the trigger and the waiting operators."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    success_statuses: Statuses = DEFAULT_SUCCESS_STATUSES
    failure_statuses: Statuses = DEFAULT_FAILURE_STATUSES
    poll_interval: PositiveSeconds = 10.0
    timeout: PositiveSeconds | None = None
    """Seconds from the start of the wait to its deadline (the operators' and sensor's ``timeout``)."""
    deadline: EpochSeconds | None = None
    """Epoch seconds; set from ``timeout`` when the wait starts (``started``), or given to the trigger."""
    max_consecutive_errors: PositiveInt = DEFAULT_MAX_CONSECUTIVE_ERRORS

    @field_validator("success_statuses")
    @classmethod
    def _some_success(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise form_error(f"at least one of {_ALLOWED}")
        return value

    @field_validator("failure_statuses")
    @classmethod
    def _disjoint(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        overlap = sorted(set(value) & set(info.data.get("success_statuses", ())))
        if overlap:
            raise form_error(f"statuses disjoint from success_statuses; {overlap} in both")
        return value

    @classmethod
    def build(cls, *, aliases: Mapping[str, str] | None = None, **kwargs: Any) -> WaitArgs:
        """Validated arguments; ``TransferValidationError`` naming the field otherwise (also a ``ValueError``).

        ``timedelta`` values are taken as seconds; ``aliases`` names fields as the caller's arguments.
        """
        data = {k: v.total_seconds() if isinstance(v, timedelta) else v for k, v in kwargs.items()}
        return validate_model(cls, data, aliases=aliases)

    def started(self, now: float | None = None) -> WaitArgs:
        """These arguments with the deadline ``timeout`` seconds from ``now`` (unchanged without a timeout)."""
        if self.timeout is None:
            return self
        return self.model_copy(update={"deadline": (time.time() if now is None else now) + self.timeout})

    def verdict(self, status: TransferStatus | str) -> Verdict:
        """A terminal status outside ``success_statuses`` can never turn into success: it counts as failure."""
        value = TransferStatus(status)
        if value.value in self.success_statuses:
            return "success"
        if value.value in self.failure_statuses or value.is_terminal:
            return "failure"
        return "pending"


Policy = dict[str, Any] | None
"""HTTP policy overrides for the hook (``timeout``, ``max_attempts``...); the hook checks the keys."""


class SavedState(BaseModel):
    """A trigger's progress as ``serialize()`` saved it (checked: a hand-edited row must not crash the loop)."""

    model_config = ConfigDict(extra="forbid")

    attempts: NonNegativeInt = 0
    finished: dict[str, TransferCheck] = {}
    errors: dict[str, NonNegativeInt] = {}


# --------------------------------------------------------------------------------------------- transfers


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


_TRANSFERS_TEXT = "JSON text of a transfer or a list of transfers"
TransfersText = Annotated[
    Any, BeforeValidator(lambda v: parse_json_text(v, what=_TRANSFERS_TEXT, python_literals=True))
]
"""Size and depth checked before parsing: no parser recurses into a hostile value."""


def _parse_text(text: str, field: str) -> Any:
    text = text.strip()
    if not text:
        raise TransferValidationError(field, "a transfer's JSON (dict, list or JSON text)", "empty text")
    return validate(TransfersText, text, field, show_value=False)


def _json_safe(item: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A plain-JSON copy, so the transfers can travel in a trigger's kwargs (dates become ISO text)."""
    if json_depth(item, MAX_DEPTH) > MAX_DEPTH:
        raise TransferValidationError(
            field, f"a transfer's JSON nested at most {MAX_DEPTH} levels deep", show_value=False
        )
    try:
        return json.loads(json.dumps(dict(item), default=_isoformat))
    except (TypeError, ValueError) as exc:
        raise TransferValidationError(field, "a JSON-serialisable object", str(exc)) from None


def _isoformat(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
