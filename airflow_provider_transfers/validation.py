"""Constrained input types and the one adapter from pydantic's ``ValidationError`` to ours.

Every public edge (hook methods, operator, sensor and trigger arguments, connection extras, the HTTP
policy, records) validates with pydantic through :func:`validate` / :func:`validate_model`, so a bad
value fails before any request with ``TransferValidationError`` naming the field and the expected form.

The string types match the *whole* value: Python's ``$`` also matches before a trailing newline, so
patterns here go through ``re.fullmatch`` and never rely on ``^...$``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from airflow_provider_transfers.exceptions import TransferValidationError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

FORM_ERROR = "transfer_form"
"""pydantic error type whose message is the expected form (raised by the validators below)."""


def form_error(expected: str) -> PydanticCustomError:
    return PydanticCustomError(FORM_ERROR, "{expected}", {"expected": expected})


def full_match(pattern: str, expected: str, *, flags: int = 0) -> AfterValidator:
    """A validator: the whole string matches ``pattern`` (no trailing newline, no surrounding text)."""
    compiled = re.compile(pattern, flags)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise form_error(expected)
        return value

    return AfterValidator(check)


def _strict_text(expected: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise form_error(expected)
        return value

    return BeforeValidator(check)


def _number(expected: str, *, integer: bool) -> BeforeValidator:
    """Numbers, and strings of numbers (what Airflow templating renders); never booleans, NaN or inf."""

    def check(value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise form_error(expected)
        if isinstance(value, int):
            number: float = float(value)
        else:
            try:
                number = float(value)
            except (ValueError, OverflowError):
                raise form_error(expected) from None
        if not math.isfinite(number):
            raise form_error(expected)
        if integer:
            if number != int(number):
                raise form_error(expected)
            return int(number)
        return number

    return BeforeValidator(check)


def _bounded(expected: str, *, gt: float | None = None, ge: float | None = None) -> AfterValidator:
    def check(value: float) -> float:
        if (gt is not None and not value > gt) or (ge is not None and not value >= ge):
            raise form_error(expected)
        return value

    return AfterValidator(check)


def twilio_sid(prefix: str) -> Any:
    """``prefix`` plus 32 hex digits (34 characters)."""
    expected = f"a Twilio SID: '{prefix}' followed by 32 hex digits (34 chars)"
    return Annotated[str, _strict_text(expected), full_match(rf"{prefix}[0-9a-fA-F]{{32}}", expected)]


NIL_UUID = "00000000-0000-0000-0000-000000000000"
UUID_EXPECTED = "a UUID like 3fa85f64-5717-4562-b3fc-2c963f66afa6 (not the nil UUID)"
_UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def _not_nil(value: str) -> str:
    if value == NIL_UUID:
        raise form_error(UUID_EXPECTED)
    return value


ResourceUuid = Annotated[
    str, _strict_text(UUID_EXPECTED), full_match(_UUID_PATTERN, UUID_EXPECTED), AfterValidator(_not_nil)
]
"""A VoIPbin resource id: a UUID, not the nil UUID."""

PositiveSeconds = Annotated[
    float, _number("a finite number of seconds > 0", integer=False), _bounded("a finite number of seconds > 0", gt=0)
]
NonNegativeSeconds = Annotated[
    float, _number("a finite number of seconds >= 0", integer=False), _bounded("a finite number of seconds >= 0", ge=0)
]
PositiveInt = Annotated[int, _number("a whole number >= 1", integer=True), _bounded("a whole number >= 1", ge=1)]
NonNegativeInt = Annotated[int, _number("a whole number >= 0", integer=True), _bounded("a whole number >= 0", ge=0)]
PositiveNumber = Annotated[float, _number("a finite number > 0", integer=False), _bounded("a finite number > 0", gt=0)]


@functools.cache
def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def _location(prefix: str, loc: tuple[int | str, ...]) -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "value"


def _expected(error: Any) -> str:
    if error["type"] == FORM_ERROR:
        return str(error["ctx"]["expected"])
    message = str(error["msg"])
    return message[0].lower() + message[1:] if message else error["type"]


def as_transfer_error(exc: ValidationError, field: str = "", *, show_value: bool = True) -> TransferValidationError:
    """The first error of ``exc`` as ``TransferValidationError`` naming the field and the expected form."""
    first = exc.errors(include_url=False)[0]
    where = _location(field, tuple(first["loc"]))
    got = first.get("input") if show_value and first["type"] != "missing" else None
    if isinstance(got, str | bytes) and len(got) > 200:
        got = f"{got[:200]!r}... ({len(got)} chars)"
    elif not isinstance(got, str | bytes | int | float | type(None)):
        got = type(got).__name__
    error = TransferValidationError(where, _expected(first), got, show_value=show_value)
    extra = len(exc.errors()) - 1
    if extra:
        error.args = (f"{error.args[0]} (and {extra} more problem{'s' if extra > 1 else ''})",)
    return error


def validate(tp: Any, value: Any, field: str, *, show_value: bool = True) -> Any:
    """``value`` validated as ``tp``; ``TransferValidationError`` naming ``field`` otherwise."""
    try:
        return _adapter(tp).validate_python(value)
    except ValidationError as exc:
        raise as_transfer_error(exc, field, show_value=show_value) from None
    except RecursionError:
        raise TransferValidationError(field, "a value nested less deeply", show_value=False) from None


def validate_model(model: type[M], data: Any, field: str = "", *, show_value: bool = True) -> M:
    """``data`` validated as ``model``; errors name ``field.<model field>``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise as_transfer_error(exc, field, show_value=show_value) from None
    except RecursionError:
        raise TransferValidationError(field or model.__name__, "a value nested less deeply", show_value=False) from None


def validator(tp: Any, field: str) -> Callable[[Any], Any]:
    """``validate`` bound to a type and field (for ``check_if_literal``)."""
    return functools.partial(validate, tp, field=field)


def json_object(value: Any, field: str) -> dict[str, Any]:
    """A JSON object given as a mapping or JSON text; ``None`` or blank text is ``{}``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise TransferValidationError(
                field, "a JSON object (dict or JSON text)", f"unparseable text: {exc}"
            ) from None
    if not isinstance(value, Mapping):
        raise TransferValidationError(field, "a JSON object (dict or JSON text of an object)", type(value).__name__)
    try:
        return dict(json.loads(json.dumps(dict(value))))
    except (TypeError, ValueError) as exc:
        raise TransferValidationError(field, "a JSON-serialisable object", str(exc)) from None
