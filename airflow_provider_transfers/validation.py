"""Checking inputs at the edge: constrained types, the one adapter to ``TransferValidationError``,
literal-or-templated arguments, and base-URL rules.

String types match the *whole* value (``re.fullmatch``: ``$`` would also match before a trailing newline).
"""

from __future__ import annotations

import ast
import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

import httpx
from airflow.sdk import XComArg
from pydantic import AfterValidator, BaseModel, BeforeValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from airflow_provider_transfers.exceptions import TransferConfigError, TransferValidationError

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


def sid_format(prefix: str) -> BeforeValidator:
    """A Twilio SID: ``prefix`` plus 32 hex digits (34 characters), the whole text."""
    expected = f"a Twilio SID: '{prefix}' followed by 32 hex digits (34 chars)"
    compiled = re.compile(rf"{prefix}[0-9a-fA-F]{{32}}")

    def check(value: Any) -> Any:
        if not isinstance(value, str) or compiled.fullmatch(value) is None:
            raise form_error(expected)
        return value

    return BeforeValidator(check)


@functools.cache
def twilio_sid(prefix: str) -> Any:
    return Annotated[str, sid_format(prefix)]


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


EPOCH_EXPECTED = "epoch seconds (a finite number > 0) or an ISO-8601 date-time"
EpochNumber = Annotated[float, _number(EPOCH_EXPECTED, integer=False), _bounded(EPOCH_EXPECTED, gt=0)]
"""A point in time as epoch seconds (``waiting.inputs.EpochSeconds`` also takes dates and ISO text)."""

PositiveInt = Annotated[int, _number("a whole number >= 1", integer=True), _bounded("a whole number >= 1", ge=1)]
NonNegativeInt = Annotated[int, _number("a whole number >= 0", integer=True), _bounded("a whole number >= 0", ge=0)]
PositiveNumber = Annotated[float, _number("a finite number > 0", integer=False), _bounded("a finite number > 0", gt=0)]
NonNegativeNumber = Annotated[
    float, _number("a finite number >= 0", integer=False), _bounded("a finite number >= 0", ge=0)
]
Fraction = Annotated[
    float,
    _number("a finite number within [0, 1]", integer=False),
    _bounded("a finite number within [0, 1]", ge=0),
    AfterValidator(lambda v: _at_most(v, 1.0, "a finite number within [0, 1]")),
]


def _at_most(value: float, limit: float, expected: str) -> float:
    if value > limit:
        raise form_error(expected)
    return value


def _strict_bool(value: Any) -> bool:
    """``True``/``False``, and the text Airflow templating renders them to; never 1, 0 or "yes"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise form_error("True or False")


StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]

CONN_ID_EXPECTED = "an Airflow connection id: letters, digits, '_', '.', '-' (at most 250 chars)"
ConnId = Annotated[str, _strict_text(CONN_ID_EXPECTED), full_match(r"[\w.\-]{1,250}", CONN_ID_EXPECTED)]
"""An Airflow connection id (Airflow's own key rule: ``[\\w.-]``, 1 to 250 characters)."""


def one_conn_id(name: str, own: Any, conn_id: Any, default: str) -> Any:
    """An operator's connection, given as its own keyword (``name``, canonical) or as ``conn_id`` (as in the sensor
    and the reconciliation); checked now when literal. Both given, differing, is refused (which one was meant?)."""
    if conn_id is not None and own != default and own != conn_id:
        raise TransferValidationError(
            f"{name} / conn_id", f"one connection (they name the same argument); got {own!r} and {conn_id!r}"
        )
    chosen = conn_id if conn_id is not None else own
    check_if_literal(chosen, validator(ConnId, name))
    return chosen


# --------------------------------------------------------------------------------------------- addresses

E164_EXPECTED = "an E.164 phone number like +15551234567"
E164 = Annotated[str, _strict_text(E164_EXPECTED), full_match(r"\+[1-9][0-9]{1,14}", E164_EXPECTED)]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_PATTERN = rf"(?:{_LABEL}\.)*{_LABEL}"
_IPV6 = r"\[[0-9A-Fa-f:.]{2,45}\]"
SIP_EXPECTED = (
    "a SIP address user@domain like alice@example.com (optionally 'sip:', ':port'): the user part of "
    "letters, digits and . _ ~ - + ! $ & ' * = , %; the domain a hostname or IP address"
)
_SIP_USER = r"(?:[A-Za-z0-9._~+!$&'*=,\-]|%[0-9A-Fa-f]{2})+"
_SIP_PATTERN = rf"(?:sips?:)?{_SIP_USER}@(?:{HOSTNAME_PATTERN}|{_IPV6})(?::[0-9]{{1,5}})?"


def _host_length(value: str) -> str:
    host = value.rpartition("@")[2]
    if len(host) > 253 + 6:
        raise form_error(SIP_EXPECTED)
    return value


SipAddress = Annotated[
    str, _strict_text(SIP_EXPECTED), full_match(_SIP_PATTERN, SIP_EXPECTED), AfterValidator(_host_length)
]
"""``user@domain`` (``sip:``/``sips:`` and a port allowed): no path, query, fragment or empty labels."""

EMAIL_EXPECTED = "an email address like alice@example.com"
Email = Annotated[
    str,
    _strict_text(EMAIL_EXPECTED),
    full_match(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~\-]{{1,64}}@{HOSTNAME_PATTERN}", EMAIL_EXPECTED),
]

TEXT_EXPECTED = "a non-empty single-line text of at most 256 chars, without surrounding spaces"
_TEXT_PATTERN = r"[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]{0,254}[^\s\x00-\x1f\x7f])?"
Text = Annotated[str, _strict_text(TEXT_EXPECTED), full_match(_TEXT_PATTERN, TEXT_EXPECTED)]
"""Free text sent to a platform (an extension, a line name, a display name): one line, trimmed."""

# --------------------------------------------------------------------------------------------- JSON

MAX_DEPTH = 32
"""Deepest nesting of dicts and lists accepted in a JSON value (a request body, an address list)."""
MAX_BODY_BYTES = 1_000_000
"""Largest request body (its JSON, UTF-8) sent to a platform; hooks and operators take ``max_body_bytes``."""
MAX_ADDRESSES = 100
"""Most transferee addresses in one VoIPbin transfer; the hook and operator take ``max_addresses``."""


def json_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of dicts/lists/tuples in ``value`` (0 for a scalar), without recursion.

    Stops as soon as ``limit`` is exceeded (returns ``limit + 1``), so a 100,000-deep value costs little.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def text_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """Bracket depth of JSON (or Python literal) text, ignoring brackets inside strings; no recursion."""
    depth = deepest = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
            if depth > limit:
                return depth
            deepest = max(deepest, depth)
        elif char in "]})":
            depth -= 1
    return deepest


def _size_expected(what: str, max_bytes: int, setting: str) -> str:
    return f"{what} of at most {max_bytes} bytes as JSON (raise {setting} to allow more)"


def _depth_expected(what: str, max_depth: int) -> str:
    return f"{what} nested at most {max_depth} levels deep"


def parse_json_text(
    text: str,
    *,
    what: str,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_DEPTH,
    setting: str = "max_body_bytes",
    python_literals: bool = False,
) -> Any:
    """JSON text (or, with ``python_literals``, the ``str()`` Jinja renders a dict/list into), size and
    depth checked *before* parsing, so no parser ever recurses into a hostile value."""
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise form_error(_size_expected(what, max_bytes, setting))
    opening = text.count("[") + text.count("{") + text.count("(")
    if opening > max_depth and text_depth(text, max_depth) > max_depth:
        raise form_error(_depth_expected(what, max_depth))
    try:
        return json.loads(text)
    except ValueError as exc:
        if not python_literals:
            raise form_error(f"{what} (JSON text that parses: {exc})") from None
    except RecursionError:
        raise form_error(_depth_expected(what, max_depth)) from None
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise form_error(f"{what} (JSON text, or a Python literal of one)") from None


def json_safe(
    value: Any,
    *,
    what: str,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_DEPTH,
    setting: str = "max_body_bytes",
) -> Any:
    """``value`` as plain JSON data (a deep copy), refusing deep nesting, NaN/inf and oversize values."""
    if json_depth(value, max_depth) > max_depth:
        raise form_error(_depth_expected(what, max_depth))
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise form_error(f"{what} holding only JSON values (no NaN or infinity): {exc}") from None
    except RecursionError:  # a cycle, or nesting hidden from json_depth (e.g. in an exotic Mapping)
        raise form_error(_depth_expected(what, max_depth)) from None
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise form_error(_size_expected(what, max_bytes, setting))
    return json.loads(text)


@functools.cache
def json_object(*, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """A request body: a dict, or JSON text of an object; ``None`` and blank text mean ``{}``."""
    what = "a JSON object (a dict or JSON text of one)"

    def check(value: Any) -> dict[str, Any]:
        if value is None or (isinstance(value, str) and not value.strip()):
            return {}
        if isinstance(value, str | bytes):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            value = parse_json_text(text, what=what, max_bytes=max_bytes, max_depth=max_depth)
        if not isinstance(value, Mapping):
            raise form_error(what)
        result = json_safe(dict(value), what=what, max_bytes=max_bytes, max_depth=max_depth)
        assert isinstance(result, dict)
        return result

    return Annotated[dict[str, Any], BeforeValidator(check)]


@functools.cache
def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def check_as(tp: Any, value: Any) -> Any:
    """Inside another validator: ``value`` as ``tp``, or a form error stating what ``tp`` expects."""
    try:
        return _adapter(tp).validate_python(value)
    except ValidationError as exc:
        raise form_error(_expected(exc.errors(include_url=False)[0])) from None


def _location(prefix: str, loc: tuple[int | str, ...], subscript: bool = False) -> str:
    """``prefix.field[0]``; with ``subscript``, keys as a mapping's: ``transfer['sid']``."""
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif subscript and text:
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "value"


def _expected(error: Any) -> str:
    if error["type"] == FORM_ERROR:
        return str(error["ctx"]["expected"])
    if error["type"] == "missing":
        return "a value (the field is required)"
    if error["type"] == "extra_forbidden":
        return "no such field (an unknown key, misspelt?)"
    message = str(error["msg"])
    return message[0].lower() + message[1:] if message else error["type"]


class _Shown:
    """A value already rendered for the message (its ``repr`` is the text itself)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def as_transfer_error(
    exc: ValidationError,
    field: str = "",
    *,
    show_value: bool = True,
    aliases: Mapping[str, str] | None = None,
    subscript: bool = False,
) -> TransferValidationError:
    """The first error of ``exc`` as ``TransferValidationError`` naming the field and the expected form.

    ``aliases`` renames a model field to the argument the user wrote (the sensor's ``poke_interval`` is
    the wait's ``poll_interval``).
    """
    first = exc.errors(include_url=False)[0]
    loc = tuple(first["loc"])
    if aliases and loc and isinstance(loc[0], str) and loc[0] in aliases:
        loc = (aliases[loc[0]], *loc[1:])
    where = _location(field, loc, subscript)
    got = first.get("input") if show_value and first["type"] != "missing" else None
    if isinstance(got, str | bytes) and len(got) > 200:
        got = _Shown(f"{got[:200]!r}... ({len(got)} chars)")
    elif not isinstance(got, _Shown | str | bytes | int | float | type(None)):
        shown = _safe_repr(got)  # the value itself (a list, a dict): what to fix, not just its type
        got = _Shown(shown if len(shown) <= 200 else f"{shown[:200]}... ({type(got).__name__})")
    error = TransferValidationError(where, _expected(first), got, show_value=show_value)
    extra = len(exc.errors()) - 1
    if extra:
        error.args = (f"{error.args[0]} (and {extra} more problem{'s' if extra > 1 else ''})",)
    return error


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a value whose repr fails: its type is all we can say
        return type(value).__name__


def validate(tp: Any, value: Any, field: str, *, show_value: bool = True) -> Any:
    """``value`` validated as ``tp``; ``TransferValidationError`` naming ``field`` otherwise."""
    try:
        return _adapter(tp).validate_python(value)
    except ValidationError as exc:
        raise as_transfer_error(exc, field, show_value=show_value) from None
    except RecursionError:
        raise TransferValidationError(field, "a value nested less deeply", show_value=False) from None


def validate_model(
    model: type[M],
    data: Any,
    field: str = "",
    *,
    show_value: bool = True,
    aliases: Mapping[str, str] | None = None,
    subscript: bool = False,
) -> M:
    """``data`` validated as ``model``; errors name ``field.<model field>`` (or its alias; with ``subscript``,
    ``field['<model field>']``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise as_transfer_error(exc, field, show_value=show_value, aliases=aliases, subscript=subscript) from None
    except RecursionError:
        raise TransferValidationError(field or model.__name__, "a value nested less deeply", show_value=False) from None


def validator(tp: Any, field: str) -> Callable[[Any], Any]:
    """``validate`` bound to a type and field (for ``check_if_literal``)."""
    return functools.partial(validate, tp, field=field)


# --------------------------------------------------------------------------------------------- templates


def contains_template(value: Any, *, _depth: int = 0) -> bool:
    """True if rendering may change ``value``: a Jinja template or an ``XComArg`` anywhere inside it."""
    if _depth > 2 * MAX_DEPTH:
        return True
    if isinstance(value, XComArg):
        return True
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(
            contains_template(k, _depth=_depth + 1) or contains_template(v, _depth=_depth + 1) for k, v in value.items()
        )
    if isinstance(value, list | tuple | set | frozenset):
        return any(contains_template(v, _depth=_depth + 1) for v in value)
    return False


def check_if_literal(value: Any, check: Callable[[Any], Any]) -> None:
    """Run ``check(value)`` now (DAG parse time) unless some part of ``value`` is rendered later.

    A value nested deeper than ``MAX_DEPTH`` is checked (and refused) now whatever it holds: rendering
    cannot make it shallower, and Airflow's own walk over template fields would die of ``RecursionError``.
    """
    if json_depth(value, MAX_DEPTH) > MAX_DEPTH or not contains_template(value):
        check(value)


# --------------------------------------------------------------------------------------------- base URLs


def validate_base_url(raw: str, *, field: str = "host") -> str:
    """Accept ``https://host[:port][/path]``, or ``http://`` for loopback hosts only (the sandbox).

    Credentials, a query string or a fragment in the URL are refused: a base URL is written into logs.
    """
    text = raw.strip()
    where = f"Connection field {field!r}"
    if "://" not in text:
        raise TransferConfigError(
            f"{where} must be a base URL like https://flex-api.twilio.com "
            f"(or http://127.0.0.1:PORT for the sandbox); got {text!r}"
        )
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise TransferConfigError(f"{where} is not a valid URL: {exc}") from None
    if url.userinfo:
        raise TransferConfigError(f"{where} must not carry credentials; use login/password")
    if url.query or url.fragment:
        raise TransferConfigError(f"{where} must not have a query string or fragment")
    try:
        loopback = url.host == "localhost" or ipaddress.ip_address(url.host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if url.scheme == "http" and not loopback:
        raise TransferConfigError(
            f"{where}: plain http:// is only allowed for loopback hosts (127.0.0.1, ::1, localhost); "
            f"use https:// for {url.host!r}"
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise TransferConfigError(f"{where} must be an http(s) URL with a host; got {text!r}")
    return str(url).rstrip("/")
